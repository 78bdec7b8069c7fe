package api

import (
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/storage"
	"lectern/webui"
)

// siteHandlers serve what is not the API: the browser pages and their
// assets (webui), health and readiness, the metrics and the OpenAPI document.
type siteHandlers struct {
	cfg Config
	// db answers readiness.
	db *storage.DB
	// registry is served at /metrics.
	registry *prometheus.Registry
	reporter
}

func (s *siteHandlers) routes(r router) {
	s.pageRoutes(r.e)
	r.e.GET("/healthz", s.healthz)
	r.e.GET("/readyz", s.readyz)
	r.e.GET("/metrics", gin.WrapH(metricsHandler(s.registry)))
	r.v1.GET("/openapi.json", s.openAPI)
}

// pageRoutes registers the browser pages and their assets (webui). They are
// not API: openapi.json leaves them out (see pageRoutes in openapi_test.go).
func (s *siteHandlers) pageRoutes(e *gin.Engine) {
	assets := gin.WrapH(webui.Handler())
	join := gin.WrapH(webui.Page("index.html"))
	e.GET("/", s.pageHeaders(pageDevices), join)
	e.GET("/admin", s.pageHeaders(pagePlain), gin.WrapH(webui.Page("admin.html")))
	e.GET("/js/*filepath", assets)
	e.GET("/css/*filepath", assets)
	e.GET("/img/*filepath", assets)
	e.GET("/vendor/*filepath", assets) // hls.js (webui/vendor/refresh-hlsjs.sh)
	// The room pages send a browser without a join for the room to the join
	// page (/?room=...), so a shared link works.
	e.GET("/room/:room", s.pageHeaders(pageCall), gin.WrapH(webui.Page("room.html")))
	e.GET("/studio/:room", s.pageHeaders(pageCall), gin.WrapH(webui.Page("studio.html")))
	e.GET("/watch/:room", s.pageHeaders(pageWatch), gin.WrapH(webui.Page("watch.html")))
}
