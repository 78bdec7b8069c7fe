package api

import (
	"github.com/gin-gonic/gin"

	"lectern/webui"
)

// pageRoutes registers the browser pages and their assets (webui). They are
// not API: openapi.json leaves them out (see pageRoutes in openapi_test.go).
// /js/*filepath is registered in routes.
func (s *Server) pageRoutes(e *gin.Engine) {
	assets := gin.WrapH(webui.Handler())
	join := gin.WrapH(webui.Page("index.html"))
	e.GET("/", join)
	e.GET("/admin", noFraming, gin.WrapH(webui.Page("admin.html")))
	e.GET("/css/*filepath", assets)
	e.GET("/img/*filepath", assets)
	// The conference, studio and watch pages are not built yet. Until they
	// are, their links open the join page, which knows the room from the path
	// and says honestly what is coming, so a shared link already works.
	e.GET("/room/:room", join)
	e.GET("/studio/:room", join)
	e.GET("/watch/:room", join)
}

// noFraming keeps the admin console out of other sites' frames (clickjacking).
func noFraming(c *gin.Context) {
	c.Header("X-Frame-Options", "DENY")
	c.Header("Content-Security-Policy", "frame-ancestors 'none'")
}
