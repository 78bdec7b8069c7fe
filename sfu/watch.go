package sfu

import "sync"

// watchers are the server-wide observers (Watch): they see every room's
// participants join and leave and its tracks come and go, for webhooks.
// Their set is guarded by mu; the callbacks run outside it.
type watchers struct {
	mu  sync.Mutex
	fns map[*observer]bool
}

// Watch calls fn with the participant_joined, participant_left,
// track_published and track_unpublished events of every room (Event.Room
// names it) until cancel is called. Unlike Observe, it keeps no room alive.
// fn runs on the SFU's goroutines: it must not block and must not call back
// into the SFU synchronously. Guests (publishers shown in another room) are
// not reported in the rooms that show them.
func (s *SFU) Watch(fn func(Event)) (cancel func()) {
	o := &observer{fn: fn}
	w := &s.watchers
	w.mu.Lock()
	if w.fns == nil {
		w.fns = map[*observer]bool{}
	}
	w.fns[o] = true
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.fns, o)
		w.mu.Unlock()
	}
}

// watch hands ev to every watcher.
func (s *SFU) watch(ev Event) {
	w := &s.watchers
	w.mu.Lock()
	if len(w.fns) == 0 {
		w.mu.Unlock()
		return
	}
	obs := make([]*observer, 0, len(w.fns))
	for o := range w.fns {
		obs = append(obs, o)
	}
	w.mu.Unlock()
	for _, o := range obs {
		o.fn(ev)
	}
}
