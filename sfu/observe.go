package sfu

// Observers let server-side consumers (HLS muxers, recorders, RTSP programs)
// follow a room's tracks without being participants.

// observer is one registered callback.
type observer struct{ fn func(Event) }

// Observe calls fn with the track events of the room (published, unpublished,
// updated) until cancel is called. fn runs on the SFU's goroutines: it must
// not block and must not call back into the room synchronously. A room with
// observers stays registered even when nobody is in it, so the observer sees
// the next publisher.
func (r *Room) Observe(fn func(Event)) (cancel func()) {
	o := &observer{fn: fn}
	r.mu.Lock()
	r.observers[o] = true
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.observers, o)
		r.mu.Unlock()
		r.sfu.roomEmpty(r)
	}
}

// observe hands ev to every observer, and to the SFU's watchers.
func (r *Room) observe(ev Event) {
	r.watch(ev)
	r.mu.Lock()
	obs := make([]*observer, 0, len(r.observers))
	for o := range r.observers {
		obs = append(obs, o)
	}
	r.mu.Unlock()
	for _, o := range obs {
		o.fn(ev)
	}
}
