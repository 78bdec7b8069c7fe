package hls

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// ViewerWindow is how long a viewer counts after its last media playlist
// request. Players reload the playlist every part (LL-HLS) or every target
// duration, so a viewer who stops is gone from the count within this window.
const ViewerWindow = 10 * time.Second

// maxViewers bounds the viewers one room remembers: past it new ones are not
// counted (the count says "at least").
const maxViewers = 100_000

// viewerKeyType keys the request context value set by WithViewer.
type viewerKeyType struct{}

// WithViewer names the viewer making an HLS request (the API passes the
// client's address as its trusted proxies see it, and its user agent);
// without it the request's remote address and user agent are used.
func WithViewer(ctx context.Context, viewer string) context.Context {
	return context.WithValue(ctx, viewerKeyType{}, viewer)
}

// viewerOf is the viewer making req.
func viewerOf(req *http.Request) string {
	if v, ok := req.Context().Value(viewerKeyType{}).(string); ok && v != "" {
		return v
	}
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	return host + " " + req.UserAgent()
}

// sawViewer counts the client making a media playlist request of room.
func (s *Service) sawViewer(room string, req *http.Request) {
	s.mu.RLock()
	rs := s.rooms[room]
	s.mu.RUnlock()
	if rs != nil {
		rs.viewers.saw(viewerOf(req), time.Now())
	}
}

// Viewers is the HLS viewers of every room, as Status counts them.
func (s *Service) Viewers() int {
	return s.ViewersWhere(func(string) bool { return true })
}

// viewers counts a room's HLS viewers: the distinct clients that loaded one
// of its media playlists within ViewerWindow. Behind a CDN the origin sees
// the CDN's requests, so it counts the CDN's edges, not people.
type viewers struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	pruned time.Time
}

// saw records a playlist request by viewer at now.
func (v *viewers) saw(viewer string, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	if now.Sub(v.pruned) > ViewerWindow {
		v.pruneLocked(now)
	}
	if _, ok := v.seen[viewer]; ok || len(v.seen) < maxViewers {
		v.seen[viewer] = now
	}
}

// count returns the viewers seen within ViewerWindow before now.
func (v *viewers) count(now time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pruneLocked(now)
	return len(v.seen)
}

func (v *viewers) pruneLocked(now time.Time) {
	for k, at := range v.seen {
		if now.Sub(at) > ViewerWindow {
			delete(v.seen, k)
		}
	}
	v.pruned = now
}

// ViewersWhere is the HLS viewers of the rooms match accepts, as Status
// counts them (an app's viewers on this node).
func (s *Service) ViewersWhere(match func(room string) bool) int {
	s.mu.RLock()
	rooms := make([]*roomState, 0, len(s.rooms))
	for id, rs := range s.rooms {
		if match(id) {
			rooms = append(rooms, rs)
		}
	}
	s.mu.RUnlock()
	now, n := time.Now(), 0
	for _, rs := range rooms {
		n += rs.viewers.count(now)
	}
	return n
}
