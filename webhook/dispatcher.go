package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"lectern/storage"
)

// outbox is the database side of delivery (storage.DB).
type outbox interface {
	EnqueueWebhooks(ctx context.Context, events []storage.WebhookEvent, limit int) (int, error)
	ClaimWebhooks(ctx context.Context, node string, limit int, lease time.Duration) ([]storage.WebhookEvent, error)
	DeleteWebhook(ctx context.Context, seq int64) error
	RetryWebhook(ctx context.Context, seq int64, attempts int, nextAt time.Time, lastError string) error
}

// Timing of the outbox's own work.
const (
	// leaseMargin is added to the delivery timeout to make a claim's lease:
	// a node that dies holding a claim delays its room by about this much.
	leaseMargin = 30 * time.Second
	// storeTimeout bounds one database write of the dispatcher, including
	// the writes that finish its work after Run's context ended.
	storeTimeout = 10 * time.Second
	// batchMax bounds the events stored in one transaction.
	batchMax = 256
	// warnEvery rate-limits the warnings about dropped and failed events.
	warnEvery = 10 * time.Second
)

// Dispatcher takes events from Emit, stores them in the outbox, and delivers
// them. Emit never blocks; Run does the work. Its counters are atomics; the
// queue and the kick channel are its only other shared state.
type Dispatcher struct {
	cfg    Config
	db     outbox
	log    *slog.Logger
	client *http.Client

	queue chan storage.WebhookEvent
	kick  chan struct{} // capacity 1: something new was stored

	stats counters
	warns warner
}

// New builds a dispatcher. It starts nothing; Run delivers.
func New(cfg Config, db outbox, log *slog.Logger) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || log == nil {
		return nil, errors.New("webhook: a database and a logger are required")
	}
	client := &http.Client{
		Timeout: cfg.Timeout,
		// A redirect is an answer that is not 2xx: the event is retried,
		// not re-sent elsewhere as a GET.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Dispatcher{cfg: cfg, db: db, log: log.With("component", "webhook"), client: client,
		queue: make(chan storage.WebhookEvent, cfg.Queue), kick: make(chan struct{}, 1)}, nil
}

// Emit queues ev for delivery and returns at once: it is called from media
// and API goroutines, which must never wait for a database or a receiver.
// It fills in an empty ID, CreatedAt and Node. When the queue is full the
// event is dropped, counted and logged.
func (d *Dispatcher) Emit(_ context.Context, ev Event) {
	if ev.ID == "" {
		ev.ID = NewID()
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = time.Now().UTC()
	}
	if ev.Node == "" {
		ev.Node = d.cfg.Node
	}
	body, err := json.Marshal(ev)
	if err != nil { // only plain fields: cannot happen
		d.log.Error("webhook event not encodable", "type", ev.Type, "err", err)
		return
	}
	select {
	case d.queue <- storage.WebhookEvent{ID: ev.ID, Type: ev.Type, RoomID: ev.Room, Body: body}:
		d.stats.emitted.Add(1)
	default:
		d.stats.dropped.Add(1)
		d.warns.warn(d.log, "queue", "webhook queue full: dropped a new event (the database is not keeping up)",
			"type", ev.Type, "room", ev.Room, "event", ev.ID, "dropped_total", d.stats.dropped.Load())
	}
}

// Run stores and delivers events until ctx ends, then stores what was still
// queued (within storeTimeout), lets the deliveries in flight end, and
// returns once every goroutine it started has.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { d.persistLoop(ctx) })
	d.deliverLoop(ctx)
	wg.Wait()
	return nil
}

// persistLoop moves queued events into the outbox, in batches.
func (d *Dispatcher) persistLoop(ctx context.Context) {
	batch := make([]storage.WebhookEvent, 0, batchMax)
	for {
		select {
		case ev := <-d.queue:
			batch = append(batch[:0], ev)
		case <-ctx.Done():
			d.drain(batch[:0])
			return
		}
		batch = d.fill(batch)
		d.store(ctx, batch)
	}
}

// fill adds what is waiting in the queue to batch, up to batchMax.
func (d *Dispatcher) fill(batch []storage.WebhookEvent) []storage.WebhookEvent {
	for len(batch) < batchMax {
		select {
		case ev := <-d.queue:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// drain stores what is still queued when Run ends, so that a restart loses
// nothing that was emitted before it.
func (d *Dispatcher) drain(batch []storage.WebhookEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	for {
		batch = d.fill(batch[:0])
		if len(batch) == 0 {
			return
		}
		d.store(ctx, batch)
	}
}

// store writes batch to the outbox and wakes the deliverer.
func (d *Dispatcher) store(ctx context.Context, batch []storage.WebhookEvent) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	n, err := d.db.EnqueueWebhooks(ctx, batch, d.cfg.MaxOutbox)
	if err != nil {
		n = 0
	}
	if lost := len(batch) - n; lost > 0 {
		d.stats.dropped.Add(int64(lost))
		reason := "webhook outbox full: dropped new events, kept the older ones waiting"
		if err != nil {
			reason = "webhook outbox not writable: dropped events"
		}
		d.warns.warn(d.log, "store", reason, "dropped", lost, "first_type", batch[n].Type,
			"first_room", batch[n].RoomID, "first_event", batch[n].ID, "max_outbox", d.cfg.MaxOutbox,
			"dropped_total", d.stats.dropped.Load(), "err", err)
	}
	if n > 0 {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}
