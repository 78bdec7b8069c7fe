// Package chat is Lectern's chat hub: it checks and stores messages, keeps
// each room's subscribers, and delivers every change (new messages,
// tombstones, question states) to each subscriber that may see it, in the
// room's seq order, live and on resumption.
//
// Delivery always reads from the database: whoever wrote a change (this
// process or, on PostgreSQL, another one announcing it with NOTIFY) marks the
// room dirty, and one goroutine fetches the room's changes after the last seq
// it delivered and fans them out. A room's seqs commit in increasing order
// (see storage.InsertMessages), so a subscriber's last seq is an exact resume
// point: no gaps, no duplicates.
package chat

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"lectern/storage"
)

// MaxSlowMode is the longest slow mode a room may have.
const MaxSlowMode = time.Hour

// maxRound bounds the changes one delivery round fetches for a room.
const maxRound = 256

// webinar is the room mode in which the audience asks questions.
const webinar = "webinar"

// Hub is the chat of every room. Build it with New and run it with Run; its
// methods may be called from any goroutine, before Run they wait for it.
//
// Goroutines: Run starts and waits for the writer (stores posts in batches),
// the deliverer (fetches dirty rooms' changes and fans them out) and, on
// PostgreSQL, the listener (marks rooms other processes changed) and the
// member loop (applies members other processes changed).
// State: mu guards rooms (and every room's fields and subscribers' viewer and
// end), closed and stale; limits has its own lock; posts, wake and staleWake
// are channels.
type Hub struct {
	cfg    Config
	db     *storage.DB
	log    *slog.Logger
	warns  rateLimitedLog
	limits *limiter

	posts   chan *post    // to the writer
	wake    chan struct{} // to the deliverer; capacity 1
	stopped chan struct{} // closed when Run has returned

	mu     sync.Mutex
	rooms  map[string]*room // rooms with subscribers
	closed bool
	// stale are members other processes changed, for memberLoop.
	stale     map[memberKey]struct{}
	staleWake chan struct{} // capacity 1
}

// room is the delivery state of a room with subscribers in this process.
type room struct {
	id   string
	subs map[*Subscription]struct{}
	// last is the highest seq fanned out to subs: the deliverer fetches what
	// comes after it.
	last int64
	// dirty says the room may have changes after last; nextAt is when the
	// deliverer may fetch them (DeliveryInterval after the last round).
	dirty  bool
	nextAt time.Time
}

// New returns a hub storing into db. It starts nothing.
func New(cfg Config, db *storage.DB, log *slog.Logger) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Hub{
		cfg:       cfg,
		db:        db,
		log:       log.With("component", "chat"),
		limits:    newLimiter(cfg.RatePerSecond, cfg.RateBurst),
		posts:     make(chan *post, 4*cfg.MaxBatch),
		wake:      make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		rooms:     map[string]*room{},
		stale:     map[memberKey]struct{}{},
		staleWake: make(chan struct{}, 1),
	}, nil
}

// Run serves until ctx ends, then ends every subscription with ErrClosed
// and answers waiting posts, and returns nil.
func (h *Hub) Run(ctx context.Context) error {
	h.log.Info("chat hub started", "backend", h.db.Backend(), "cross_process", h.db.CanNotify())
	var wg sync.WaitGroup
	wg.Go(func() { h.writeLoop(ctx) })
	wg.Go(func() { h.deliverLoop(ctx) })
	if h.db.CanNotify() {
		wg.Go(func() { h.listenLoop(ctx) })
		wg.Go(func() { h.memberLoop(ctx) })
	}
	wg.Wait()
	h.mu.Lock()
	h.closed = true
	for _, r := range h.rooms {
		for s := range r.subs {
			h.endLocked(r, s, ErrClosed)
		}
	}
	h.mu.Unlock()
	close(h.stopped)
	h.log.Info("chat hub stopped")
	return nil
}

// changed marks a room dirty after this process wrote to it.
func (h *Hub) changed(roomID string) {
	h.mu.Lock()
	if r := h.rooms[roomID]; r != nil {
		h.dirtyLocked(r)
	}
	h.mu.Unlock()
}

func (h *Hub) dirtyLocked(r *room) {
	r.dirty = true
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// listenLoop marks the rooms other processes changed, listening again after
// a failure with a growing pause.
func (h *Hub) listenLoop(ctx context.Context) {
	const minPause, maxPause = 100 * time.Millisecond, 5 * time.Second
	pause := minPause
	for {
		start := time.Now()
		err := h.db.ListenChat(ctx, h.notified)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			pause = minPause
		}
		h.log.Warn("chat: listening for other processes' messages failed; retrying", "err", err, "in", pause)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return
		}
		pause = min(2*pause, maxPause)
	}
}

func (h *Hub) notified(n storage.Notification) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case n.Resync:
		for _, r := range h.rooms {
			h.dirtyLocked(r)
		}
		h.memberChangedLocked("", "", true)
		return
	case n.Deleted:
		h.closeRoomLocked(n.Room)
		return
	case n.Member != "":
		h.memberChangedLocked(n.Room, n.Member, false)
		return
	}
	if r := h.rooms[n.Room]; r != nil && n.Seq > r.last {
		h.dirtyLocked(r)
	}
}

// rateLimitedLog logs at most one warning per interval per key.
type rateLimitedLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *rateLimitedLog) warn(log *slog.Logger, key, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	if now.Sub(l.last[key]) < 10*time.Second {
		l.mu.Unlock()
		return
	}
	l.last[key] = now
	l.mu.Unlock()
	log.Warn(msg, args...)
}
