package api

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/gin-gonic/gin"
)

// forwardedHeader marks a request one node passed to another: the receiver
// serves it whatever its own view of the placement, so that two nodes that
// disagree for a moment never pass a request back and forth.
const forwardedHeader = "X-Lectern-Forwarded"

// roomNodes knows which node serves a room's media when several nodes share
// the database: it forwards and redirects requests there and asks the other
// nodes what they hold. With no placer, every room is served here.
type roomNodes struct {
	placer Placer
	// edge decides which WHEP requests for other nodes' rooms are served
	// here (edge.go).
	edge edgeServing
	reporter
}

// onRoomNode serves a request that changes a live room (its settings, a
// member's permissions, what is on air) on the node where the room's media
// lives, where the change can take effect: another node passes the request
// there and relays the answer, so clients, the console included, never see
// the cluster. It runs after authentication, which any node can do, so that
// rate limits and refusals stay with the node the client reached. A room no
// live node holds is served here.
func (n *roomNodes) onRoomNode(c *gin.Context) {
	if n.placer == nil || c.GetHeader(forwardedHeader) != "" {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), placementTimeout)
	base, err := n.placer.Lookup(ctx, c.Param("room"))
	cancel()
	if err != nil {
		n.log.Warn("room lookup failed; serving here", "room", c.Param("room"), "err", err)
		return
	}
	if base == "" {
		return
	}
	target, err := url.Parse(base)
	if err != nil {
		n.abort(c, errorf(http.StatusBadGateway, codeNodeUnreachable, "the room's node has a bad address %q", base))
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Set(forwardedHeader, "1")
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			n.log.Warn("room's node unreachable", "room", c.Param("room"), "node", base, "err", err)
			n.abort(c, errorf(http.StatusBadGateway, codeNodeUnreachable, "the node that holds room %s did not answer; try again shortly", c.Param("room")))
		},
	}
	proxy.ServeHTTP(c.Writer, c.Request)
	c.Abort()
}
