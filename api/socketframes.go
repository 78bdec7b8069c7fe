package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/coder/websocket"
)

// What the room, chat and stage websockets share about reading and writing
// frames.

// readEnded says why reading a websocket failed: the client closed it, the
// server is closing (ctx ended), or the read failed.
func readEnded(ctx context.Context, err error) string {
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return "client closed: " + ce.Reason
	case ctx.Err() != nil, errors.Is(err, context.Canceled):
		return "server closing"
	}
	return fmt.Sprintf("read: %v", err)
}

// writeFrame writes v as one JSON text frame, giving up after
// socketWriteTimeout.
func writeFrame(ctx context.Context, conn *websocket.Conn, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, socketWriteTimeout)
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, data)
}
