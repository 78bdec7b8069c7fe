package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"
)

// Placer says which node serves a room's media when several nodes share one
// database (cluster.Node does, wired by cmd/lectern). Without one, this node
// serves every room. URLs are the owner's advertised base URL; "" means this
// node.
type Placer interface {
	// Place returns the node that room's media lives on, placing the room on
	// the least loaded node when no live node holds it. A room that does not
	// exist is served here (and refused by the handler).
	Place(ctx context.Context, room string) (string, error)
	// Lookup returns the live node that holds room without placing it; ""
	// when it is this node or none.
	Lookup(ctx context.Context, room string) (string, error)
}

// Close status of a room websocket sent to another node (docs/protocol.md).
const statusRedirect websocket.StatusCode = 4307

// RoomMovedReason ends a room's participants on a node that finds, when its
// stalled heartbeat returns, that joins meanwhile placed the room on another
// node (cluster.Node.Fence). It is the room websocket's close reason; the
// pages (js/call.js) recognize it and offer to rejoin, which lands on the
// room's node (docs/protocol.md).
const RoomMovedReason = "the room moved to another node: join again"

// placementTimeout bounds the database work of one placement decision.
const placementTimeout = 5 * time.Second

// placement sends requests for a room whose media lives on another node to
// that node: WHIP and WHEP (RFC 9725 section 4.6) and the room websocket,
// which gets a redirect message instead (browsers do not follow redirects of
// websockets); HLS requests are passed there and answered here (proxyHLS), so
// that players keep the service's URL. Starting a publishing session (WHIP
// POST, the websocket) places the room if no node holds it; the other
// requests, WHEP viewers' included, only look. REST requests that
// change a live room are passed to its node after authentication
// (onRoomNode, api/forward.go); every other route, and every route without a
// Placer, passes through untouched.
func (n *roomNodes) placement(c *gin.Context) {
	if n.placer == nil {
		return
	}
	var claim, socket bool
	switch c.FullPath() {
	case "/whip/:room", "/whep/:room":
		if c.Request.Method != http.MethodPost {
			return
		}
		// A publisher places the room; a viewer does not (the room follows
		// its publisher): a WHEP viewer of a room no live node holds is
		// served here until a publisher places the room, then sent there.
		claim = c.FullPath() == "/whip/:room"
	case "/api/v1/rooms/:room/ws", "/api/v1/rooms/:room/stage/ws":
		claim, socket = true, true
	case "/whip/:room/:session", "/whep/:room/:session", "/hls/:room/index.m3u8", "/hls/:room/:session/:stream/:file":
		if c.Request.Method == http.MethodOptions || n.edge.local(c) {
			return
		}
	default:
		return
	}
	room := c.Param("room")
	ctx, cancel := context.WithTimeout(c.Request.Context(), placementTimeout)
	defer cancel()
	find := n.placer.Lookup
	if claim {
		find = n.placer.Place
	}
	base, err := find(ctx, room)
	if err != nil {
		// The database is unwell: serving here beats serving nobody.
		n.log.Warn("room placement failed; serving here", "room", room, "err", err)
		return
	}
	if base == "" {
		return
	}
	if isHLSRoute(c.FullPath()) {
		if n.proxyHLS(c, base) {
			c.Abort()
		}
		return
	}
	target := strings.TrimSuffix(base, "/") + c.Request.URL.RequestURI()
	again := func(ctx context.Context) (string, error) {
		if f, ok := n.placer.(ownerForgetter); ok {
			f.Forget(room)
		}
		return n.placer.Lookup(ctx, room)
	}
	if n.edge.serve(c, base, target, again) {
		return
	}
	c.Header("Cache-Control", "no-store")
	if socket {
		n.redirectSocket(c, target)
	} else {
		c.Redirect(http.StatusTemporaryRedirect, target)
	}
	c.Abort()
}

// roomSocketOptions accepts room websockets from pages of any origin when
// several nodes serve one service: a page loaded from one node follows a
// redirect to the node its room lives on. The socket's credential is a token
// in the query or header, never a cookie, so another origin gains nothing. One
// node keeps the library's same-origin check.
func (n *roomNodes) roomSocketOptions() *websocket.AcceptOptions {
	if n.placer == nil {
		return nil
	}
	return &websocket.AcceptOptions{InsecureSkipVerify: true}
}

// redirectMessage tells a websocket client to connect to url instead.
type redirectMessage struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// redirectSocket accepts the websocket only to send {"type":"redirect","url":...}
// with the owner's websocket URL, then closes it with statusRedirect.
func (n *roomNodes) redirectSocket(c *gin.Context, target string) {
	if !strings.EqualFold(c.GetHeader("Upgrade"), "websocket") {
		c.Redirect(http.StatusTemporaryRedirect, target)
		return
	}
	switch {
	case strings.HasPrefix(target, "https:"):
		target = "wss:" + strings.TrimPrefix(target, "https:")
	case strings.HasPrefix(target, "http:"):
		target = "ws:" + strings.TrimPrefix(target, "http:")
	}
	conn, err := websocket.Accept(c.Writer, c.Request, nil)
	if err != nil {
		return // Accept has answered the request
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), socketWriteTimeout)
	defer cancel()
	data, _ := json.Marshal(redirectMessage{Type: "redirect", URL: target})
	if err := conn.Write(ctx, websocket.MessageText, data); err != nil {
		conn.CloseNow()
		return
	}
	conn.Close(statusRedirect, "room lives on another node")
}
