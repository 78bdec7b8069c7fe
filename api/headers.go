package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Security headers of responses (docs/security.md "Headers").
const (
	// referrerPolicy keeps page URLs, which may carry a token in the query,
	// away from other origins.
	referrerPolicy = "same-origin"
	// pagePermissions is the Permissions-Policy of pages that use no devices.
	pagePermissions = "camera=(), microphone=(), display-capture=(), geolocation=(), usb=(), payment=()"
	// devicePermissions: the join page previews the camera and microphone.
	devicePermissions = "camera=(self), microphone=(self), display-capture=(), geolocation=(), usb=(), payment=()"
	// callPermissions: the room and the studio publish camera, microphone and screen.
	callPermissions = "camera=(self), microphone=(self), display-capture=(self), geolocation=(), usb=(), payment=()"
)

// pageKind says which devices a page uses and whether other sites may frame it.
type pageKind int

const (
	pagePlain   pageKind = iota // the console: no devices, never framed
	pageDevices                 // the join page: camera and microphone preview
	pageCall                    // room and studio: camera, microphone, screen
	pageWatch                   // watch: camera and microphone on stage, framed by embed_origins
)

// baseHeaders runs first on every response: no content sniffing (a JSON error
// or an uploaded name is never taken for HTML or script) and no referrer to
// other origins. A path that is not UTF-8 is refused here with 400: no route
// could match it, and the file server would fail on it.
func (s *Server) baseHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", referrerPolicy)
	if !utf8.ValidString(c.Request.URL.Path) || strings.ContainsRune(c.Request.URL.Path, 0) {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidPath, "the path is not valid UTF-8"))
		return
	}
	c.Next()
}

// pageHeaders sets the Content-Security-Policy, framing and Permissions-Policy
// of one page.
func (s *siteHandlers) pageHeaders(kind pageKind) gin.HandlerFunc {
	csp := contentSecurityPolicy(s.cfg.PublicURL, frameAncestors(kind, s.cfg.EmbedOrigins))
	perms := pagePermissions
	switch kind {
	case pageDevices, pageWatch:
		// A viewer invited on stage checks and publishes the camera and
		// microphone from the watch page (js/stage-watch.js).
		perms = devicePermissions
	case pageCall:
		perms = callPermissions
	}
	framed := kind == pageWatch && len(s.cfg.EmbedOrigins) > 0
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Permissions-Policy", perms)
		if !framed {
			// For browsers without frame-ancestors.
			h.Set("X-Frame-Options", "DENY")
		}
	}
}

// frameAncestors is the frame-ancestors source list of a page: none, except
// the watch page, which the configured embed origins may frame.
func frameAncestors(kind pageKind, embed []string) string {
	if kind != pageWatch || len(embed) == 0 {
		return "'none'"
	}
	return strings.Join(embed, " ")
}

// contentSecurityPolicy is the pages' policy. Script, style, fonts, forms and
// the document base come from this origin only: no inline script or style,
// no eval, no plugins. Media and connections may reach other origins over the
// network schemes: other cluster nodes, the HLS CDN and the object store's
// presigned recording URLs are other origins. hls.js runs its worker from a
// blob and feeds video elements through blob URLs (Media Source Extensions).
func contentSecurityPolicy(publicURL, ancestors string) string {
	net := "https: wss:"
	if !strings.HasPrefix(publicURL, "https://") {
		net += " http: ws:"
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data: blob:",
		"font-src 'self'",
		"media-src 'self' blob: " + net,
		"connect-src 'self' " + net,
		"worker-src 'self' blob:",
		"frame-src 'none'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors " + ancestors,
	}, "; ")
}

// validEmbedOrigin reports whether o is a scheme://host[:port] origin that may
// appear in frame-ancestors.
func validEmbedOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		strings.ContainsAny(o, " ;,'\"") {
		return fmt.Errorf("embed_origins: %q is not an origin like https://example.com", o)
	}
	return nil
}
