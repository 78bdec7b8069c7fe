package api

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"lectern/access"
)

// watchGrant checks a live socket's token again every interval, until ctx
// ends. A ban or a member's deletion closes the member's sockets at once, but
// a token revoked by its ID closes nothing by itself, and the read loop
// checks only when the client sends: without this, a client that only
// listens (a chat reader, a viewer's room socket) would go on hearing the
// room. The check is the same as the read loop's (rooms.Service.Grant, a
// cached revocation generation, no database read each time), and so is the
// close: a normal closure whose reason is the error code and message.
func (s *Server) watchGrant(ctx context.Context, conn *websocket.Conn, claims access.Claims, room string, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, end := s.liveGrant(ctx, claims, room); end != "" {
			s.log.Info("socket ended: its token no longer holds", "room", room, "identity", claims.Identity, "reason", end)
			conn.Close(websocket.StatusNormalClosure, closeReason(end))
			return
		}
	}
}

// closeReason fits a reason into a close frame (RFC 6455 section 5.5: 123
// bytes), cut at a character boundary.
func closeReason(s string) string {
	const max = 123
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
