package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// codeNodeFenced refuses every request on a node that its cluster may have
// judged dead (Deps.Fenced).
const codeNodeFenced = "node_fenced"

// refuseFenced answers 503 node_fenced, with Retry-After, to every request
// but /healthz while the node is fenced: it may have been judged dead by the
// other nodes (a stall, a lost database connection), another node may now
// serve its rooms, and it must answer nothing with 2xx until it has ended its
// sessions and rejoined (cluster.Node.Fenced). /readyz is refused too, so a
// load balancer takes the node out meanwhile.
func (s *Server) refuseFenced(c *gin.Context) {
	if s.fenced == nil || c.Request.URL.Path == "/healthz" || !s.fenced() {
		return
	}
	c.Header("Retry-After", "1")
	c.Header("Cache-Control", "no-store")
	s.abort(c, errorf(http.StatusServiceUnavailable, codeNodeFenced, "this node is rejoining its cluster; try again (another node may serve the room)"))
}

// serviceURL is the base of the URLs that clients keep (WHIP, HLS): the
// service's URL in a cluster, else this node's public URL.
func (c Config) serviceURL() string {
	if c.ServiceURL != "" {
		return c.ServiceURL
	}
	return c.PublicURL
}
