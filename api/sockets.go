package api

import (
	"context"
	"sync"
)

// openSockets are the websockets (room, chat, stage) being served. The HTTP
// server's Shutdown does not wait for a connection that was upgraded, so
// Server.Close ends these itself: it cancels every socket's context, which
// cuts its connection and ends its session, and waits for the handlers.
type openSockets struct {
	mu     sync.Mutex
	closed bool
	// ctx ends at Close; every socket's context ends with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newOpenSockets() *openSockets {
	ctx, cancel := context.WithCancel(context.Background())
	return &openSockets{ctx: ctx, cancel: cancel}
}

// open counts a socket whose handler runs until done is called. Its context
// ends with the request's or at Close. After Close it opens nothing: ok is
// false and the caller closes the connection.
func (o *openSockets) open(req context.Context) (ctx context.Context, done func(), ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, nil, false
	}
	o.wg.Add(1)
	ctx, cancel := context.WithCancel(req)
	stop := context.AfterFunc(o.ctx, cancel)
	return ctx, func() { stop(); cancel(); o.wg.Done() }, true
}

// close ends every open socket and waits for their handlers to return.
func (o *openSockets) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
}
