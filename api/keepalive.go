package api

import (
	"context"
	"time"

	"github.com/coder/websocket"
)

// keepAlive pings a websocket client every interval until ctx ends. A client
// that does not answer a ping within the interval is taken for dead (its
// machine gone, its network cut without a FIN): the connection is closed,
// which ends the session's read loop. The pings also keep proxies from
// closing a quiet socket as idle. The session's run owns the goroutine.
func keepAlive(ctx context.Context, conn *websocket.Conn, interval time.Duration) {
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
	}
}
