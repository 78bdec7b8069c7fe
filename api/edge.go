package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/cascade"
	"lectern/rooms"
	"lectern/sfu"
	"lectern/storage"
)

// Cascade serves WebRTC viewers of a room whose media lives on another node
// from an edge here, which pulls the room once from its node
// (cascade.Edges does; docs/architecture.md "Across nodes").
type Cascade interface {
	// Acquire returns the edge room of room, whose node is at origin; release
	// ends the caller's hold on it. An error means the edge cannot serve.
	Acquire(ctx context.Context, room, origin string, opts sfu.RoomOptions) (*sfu.Room, func(), error)
}

// edgeTimeout bounds starting an edge for a WHEP request: the owner's answer
// to the first pull.
const edgeTimeout = 6 * time.Second

// edgeOriginKey holds, in a WHEP request's context, the edgeOrigin of a
// room that lives on another node and is served here from an edge.
const edgeOriginKey = "lectern.edgeOrigin"

// edgeOrigin is the room's node and the URL the request would have been
// redirected to, where it still goes if the edge cannot serve. again, when
// set, forgets the remembered owner and looks the room up afresh.
type edgeOrigin struct {
	base, target string
	again        func(context.Context) (string, error)
}

// ownerForgetter is a Placer that remembers owners and can be told one is
// gone (cluster.URLs).
type ownerForgetter interface{ Forget(room string) }

// edgeServing decides, in the placement middleware, which requests for a
// room on another node are served here: WHEP offers (from an edge), and
// requests on the WHEP sessions open here. Without a Cascade, none.
type edgeServing struct {
	cascade  Cascade
	sessions *whipSessions
}

// serve reports whether a request that would be redirected to the room's
// node at base is served here from an edge instead. A pull from another
// node's edge is never served from an edge (edges do not chain): it is
// redirected.
func (e edgeServing) serve(c *gin.Context, base, target string, again func(context.Context) (string, error)) bool {
	if e.cascade == nil || c.FullPath() != "/whep/:room" || c.Request.Method != http.MethodPost || c.GetHeader(cascade.Header) != "" {
		return false
	}
	c.Set(edgeOriginKey, edgeOrigin{base: base, target: target, again: again})
	return true
}

// local reports whether the request is for a WHEP session open here (an
// edge's viewer): it is answered here whichever node owns the room.
func (e edgeServing) local(c *gin.Context) bool {
	if e.cascade == nil || c.FullPath() != "/whep/:room/:session" {
		return false
	}
	ws := e.sessions.get(c.Param("session"))
	return ws != nil && ws.room == c.Param("room")
}

// openRoom returns the SFU room a WHIP or WHEP session joins and what ends
// its hold: the room here, or the room's edge for a WHEP viewer of a room on
// another node. An edge that cannot start sends the client to the room's
// node (307), as without a cascade. false: the request was answered.
func (s *whipHandlers) openRoom(c *gin.Context, k whipKind, r storage.Room) (*sfu.Room, func(), bool) {
	v, edge := c.Get(edgeOriginKey)
	if !edge || k != kindWHEP || s.edges == nil {
		room, err := s.rooms.Open(r)
		if err != nil {
			s.abort(c, err) // the SFU is shutting down
			return nil, nil, false
		}
		return room, func() {}, true
	}
	o := v.(edgeOrigin)
	ctx, cancel := context.WithTimeout(c.Request.Context(), edgeTimeout)
	defer cancel()
	room, release, err := s.edges.Acquire(ctx, r.ID, o.base, rooms.MediaOptions(r))
	if err != nil && o.again != nil {
		// The owner this node remembers may have left the cluster (a
		// drained node tells no one): look again. With no live owner now,
		// the viewer is served here until a publisher places the room, as
		// for a room no node holds; a 307 would send it to a node that is
		// gone.
		if base, lerr := o.again(ctx); lerr == nil && base == "" {
			s.log.Info("cascade edge unavailable and the room has no live node now; serving here", "room", r.ID, "gone", o.base)
			local, oerr := s.rooms.Open(r)
			if oerr != nil {
				s.abort(c, oerr)
				return nil, nil, false
			}
			return local, func() {}, true
		}
	}
	if err != nil {
		s.log.Warn("cascade edge unavailable; redirecting to the room's node", "room", r.ID, "node", o.base, "err", err)
		c.Header("Cache-Control", "no-store")
		c.Redirect(http.StatusTemporaryRedirect, o.target)
		c.Abort()
		return nil, nil, false
	}
	return room, release, true
}

// viewLayer returns the simulcast layer a WHEP viewer pins with the layer
// query parameter (q, h or f; "" when absent), or invalid_layer.
func viewLayer(c *gin.Context, k whipKind) (string, error) {
	l := c.Query("layer")
	if l == "" || k != kindWHEP {
		return "", nil
	}
	if _, err := sfu.LayerRank(l); err != nil {
		return "", mediaError(err)
	}
	return l, nil
}

// view answers a WHEP viewer's offer, pinned to layer unless it is "".
func view(p *sfu.Participant, offer, layer string) (string, error) {
	if layer == "" {
		return p.View(offer)
	}
	return p.ViewLayer(offer, layer)
}

// isPull reports whether a WHEP request is another node's edge pulling the
// room (its credential's identity and the cascade header say so): it is not
// reported to webhooks, since the edge reports the viewers it serves. A
// client claiming to be one only hides itself from webhooks, which its
// credential's minter (an API key holder) could do anyway.
func isPull(c *gin.Context, k whipKind, identity string) bool {
	return k == kindWHEP && c.GetHeader(cascade.Header) != "" && strings.HasPrefix(identity, cascade.IdentityPrefix)
}

// both returns a function calling a, then b.
func both(a, b func()) func() {
	return func() {
		a()
		b()
	}
}
