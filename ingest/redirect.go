package ingest

import (
	"context"
	"strings"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// Placer says which node serves a room's media when several nodes share one
// database (cluster.Node's RTSP URLs, wired by cmd/lectern). URLs are the
// owner's RTSP base URL (rtsp://host:port); "" means this node.
type Placer interface {
	// Place returns the node room's media lives on, placing the room when no
	// live node holds it.
	Place(ctx context.Context, room string) (string, error)
	// Lookup returns the live node that holds room, without placing it.
	Lookup(ctx context.Context, room string) (string, error)
}

// redirect answers 302 Found with the owner's URL (RFC 2326 section 11.3.3)
// when the target's room lives on another node; ok is false when this node serves it.
// Encoders (claim) place the room; readers only look. When the database
// cannot answer, this node serves the room.
func (s *Server) redirect(t target, query string, claim bool) (res *base.Response, ok bool) {
	owner := s.ownerElsewhere(t.room, claim)
	if owner == "" {
		return nil, false
	}
	return s.found(t, query, owner), true
}

// ownerElsewhere returns the RTSP base URL of the node that serves room when
// it is another node; "" when it is this one (or the database cannot answer).
func (s *Server) ownerElsewhere(room string, claim bool) string {
	if s.Placer == nil {
		return ""
	}
	ctx, cancel := requestContext()
	defer cancel()
	find := s.Placer.Lookup
	if claim {
		find = s.Placer.Place
	}
	owner, err := find(ctx, room)
	if err != nil {
		s.log.Warn("rtsp room placement failed; serving here", "room", room, "err", err)
		return ""
	}
	return owner
}

// found is the 302 to the same target on owner.
func (s *Server) found(t target, query, owner string) *base.Response {
	target := strings.TrimSuffix(owner, "/") + "/" + t.path()
	if query != "" {
		target += "?" + query
	}
	s.log.Debug("rtsp request sent to the room's node", "room", t.room, "node", owner)
	return &base.Response{StatusCode: base.StatusFound, Header: base.Header{"Location": base.HeaderValue{target}}}
}
