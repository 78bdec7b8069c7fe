package api

import (
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/gin-gonic/gin"
)

// isHLSRoute reports whether route serves a room's HLS output.
func isHLSRoute(route string) bool {
	return route == "/hls/:room/index.m3u8" || route == "/hls/:room/:session/:stream/:file"
}

// proxyHLS serves an HLS request for a room whose media lives on the node at
// base by passing it there and relaying the answer, rather than redirecting:
// a player keeps reloading the URL it has, so that URL must name the service
// (any node), never one node that may die. Blocking playlist reloads are held
// by the owner as usual. When the owner does not answer (it died, and the room
// has not been placed again yet) the request is served here, which answers
// what this node has: the broadcast if the room moved here, else offline.
// It reports whether it answered.
func (n *roomNodes) proxyHLS(c *gin.Context, base string) bool {
	target, err := url.Parse(base)
	if err != nil {
		return false
	}
	failed := false
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the owner's URIs stay relative to the player's host
			r.Out.Header.Set(forwardedHeader, "1")
		},
		ModifyResponse: func(res *http.Response) error {
			// One node's answer is cached nowhere else: the room may move.
			if res.Header.Get("Cache-Control") == "" {
				res.Header.Set("Cache-Control", "no-store")
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the player left
			}
			n.log.Warn("hls: the room's node did not answer; serving here", "room", c.Param("room"), "node", base, "err", err)
			failed = true
		},
	}
	proxy.ServeHTTP(c.Writer, c.Request)
	return !failed
}
