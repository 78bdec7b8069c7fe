package webhook

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are a dispatcher's running counts since it was made.
type Stats struct {
	// Emitted events were queued; Delivered ones were accepted by the
	// receiver; Failed counts failed attempts (each will be retried).
	Emitted, Delivered, Failed int64
	// Dropped events were never stored (queue or outbox full, database
	// failing); Expired ones were given up after RetryFor.
	Dropped, Expired int64
}

type counters struct {
	emitted, delivered, failed, dropped, expired atomic.Int64
}

// Stats returns the dispatcher's counts.
func (d *Dispatcher) Stats() Stats {
	c := &d.stats
	return Stats{Emitted: c.emitted.Load(), Delivered: c.delivered.Load(), Failed: c.failed.Load(),
		Dropped: c.dropped.Load(), Expired: c.expired.Load()}
}

// warner logs each kind of warning at most once per warnEvery.
type warner struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (w *warner) warn(log *slog.Logger, kind, msg string, args ...any) {
	now := time.Now()
	w.mu.Lock()
	if w.last == nil {
		w.last = map[string]time.Time{}
	}
	if now.Sub(w.last[kind]) < warnEvery {
		w.mu.Unlock()
		return
	}
	w.last[kind] = now
	w.mu.Unlock()
	log.Warn(msg, args...)
}
