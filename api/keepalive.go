package api

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"lectern/access"
)

// keepAlive pings a websocket client every interval until ctx ends, and
// checks the client's token again at each ping. A client that does not
// answer a ping within the interval is taken for dead (its machine gone, its
// network cut without a FIN): the connection is closed, which ends the
// session's read loop. The pings also keep proxies from closing a quiet
// socket as idle. The token check ends a client whose token no longer holds:
// a ban or a member's deletion closes its sockets at once, but a token
// revoked by its ID closes nothing by itself and the read loop checks only
// when the client sends, so a client that only listens (a chat reader, a
// viewer's room socket) would go on hearing the room. The check is the read
// loop's (rooms.Service.Grant: a cached revocation generation, no database
// read each time), and so is the close: a normal closure whose reason is the
// error code and message. The session's run owns the goroutine.
func (g *gate) keepAlive(ctx context.Context, conn *websocket.Conn, claims access.Claims, room string) {
	interval := g.ping
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, interval)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				conn.CloseNow()
			}
			return
		}
		if _, end := g.liveGrant(ctx, claims, room); end != "" {
			g.log.Info("socket ended: its token no longer holds", "room", room, "identity", claims.Identity, "reason", end)
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
