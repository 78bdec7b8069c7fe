package main

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lectern/chat"
	"lectern/hls"
	"lectern/hls/record"
	"lectern/sfu"
	"lectern/storage"
	"lectern/webhook"
)

// broadcastPoll is how often the webhooks look at the live rooms' broadcast
// state for broadcast_live and broadcast_offline.
const broadcastPoll = 500 * time.Millisecond

// webhooks turns what happens in this process into webhook events: the
// SFU's participants and tracks (rooms start with their first participant
// and finish with their last), the broadcasts' state, the recordings' rows,
// and chat questions. Its room table is guarded by mu, which is also held
// while emitting so that a room's events are queued in the order they
// happened; Emit never blocks.
type webhooks struct {
	d   *webhook.Dispatcher
	log *slog.Logger
	// media is set once media start; read by the hooks.
	media atomic.Pointer[webhookMedia]

	mu    sync.Mutex
	rooms map[string]*webhookRoom
}

// webhookMedia are the parts the webhooks read state from.
type webhookMedia struct {
	broadcast *hls.Service
	recorder  *record.Recorder
	publicURL string
}

// webhookRoom is a live room as the webhooks see it.
type webhookRoom struct {
	participants int
	live         bool // broadcast_live sent, broadcast_offline not yet
}

// openWebhooks builds the dispatcher on db when webhooks are configured
// (nil otherwise; every method works on nil) and hooks the recordings' rows,
// so that the uploads an earlier run left, resumed at start, are reported.
func openWebhooks(cfg config, db *storage.DB, log *slog.Logger) (*webhooks, error) {
	if !cfg.Webhook.on() {
		return nil, nil
	}
	node := ""
	if cfg.Cluster.Enabled {
		id, err := nodeID(cfg.Cluster.NodeID, cfg.DataDir)
		if err != nil {
			return nil, err
		}
		node = id
	}
	dcfg := cfg.Webhook.dispatcherConfig(node)
	if dcfg.Node == "" {
		// Claims need a name; events say none on a single server.
		host, _ := os.Hostname()
		dcfg.Node = "lectern-" + host
	}
	d, err := webhook.New(dcfg, db, log)
	if err != nil {
		return nil, err
	}
	w := &webhooks{d: d, log: log, rooms: map[string]*webhookRoom{}}
	db.OnRecordingChange(w.recordingChanged)
	log.Info("webhooks on", "node", dcfg.Node, "retry_for", dcfg.RetryFor, "max_outbox", dcfg.MaxOutbox)
	return w, nil
}

// attach starts following the SFU and the broadcasts. The SFU is watched
// until it closes, so that the participants it ends on shutdown are reported
// (the dispatcher stops after it and stores them).
func (w *webhooks) attach(media *sfu.SFU, broadcast *hls.Service, recorder *record.Recorder, publicURL string) {
	if w == nil {
		return
	}
	w.media.Store(&webhookMedia{broadcast: broadcast, recorder: recorder, publicURL: publicURL})
	media.Watch(w.sfuEvent)
}

// chatConfig adds the question hook to a chat configuration.
func (w *webhooks) chatConfig(c chat.Config) chat.Config {
	if w != nil {
		c.OnQuestion = w.question
	}
	return c
}

// run delivers and follows the broadcasts until ctx ends.
func (w *webhooks) run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { w.pollBroadcasts(ctx) })
	err := w.d.Run(ctx)
	wg.Wait()
	return err
}

// emit queues ev. Called with mu held for room events.
func (w *webhooks) emit(ev webhook.Event) { w.d.Emit(context.Background(), ev) }

// sfuEvent handles a participant or track event of any room.
func (w *webhooks) sfuEvent(ev sfu.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := webhook.Event{Type: ev.Type, Room: ev.Room}
	if p := ev.Participant; p != nil {
		out.Participant = &webhook.Participant{ID: p.ID, Identity: p.Identity, Name: p.Name, Kind: p.Kind}
	}
	if t := ev.Track; t != nil {
		out.Track = &webhook.Track{ID: t.ID, Participant: t.Participant, Kind: t.Kind, Source: t.Source, Codec: t.Codec}
	}
	if ev.Edge {
		// A viewer this node serves as a cascade edge: the room lives, starts
		// and finishes on another node.
		w.emit(out)
		return
	}
	switch ev.Type {
	case sfu.EventParticipantJoined:
		rs := w.rooms[ev.Room]
		if rs == nil {
			rs = &webhookRoom{}
			w.rooms[ev.Room] = rs
			w.emit(webhook.Event{Type: webhook.RoomStarted, Room: ev.Room})
		}
		rs.participants++
		w.emit(out)
	case sfu.EventParticipantLeft:
		w.emit(out)
		rs := w.rooms[ev.Room]
		if rs == nil {
			return
		}
		if rs.participants--; rs.participants > 0 {
			return
		}
		if rs.live {
			w.emit(webhook.Event{Type: webhook.BroadcastOffline, Room: ev.Room})
		}
		delete(w.rooms, ev.Room)
		w.emit(webhook.Event{Type: webhook.RoomFinished, Room: ev.Room})
	case sfu.EventTrackPublished, sfu.EventTrackUnpublished:
		w.emit(out)
	}
}

// pollBroadcasts reports the live rooms' broadcasts going live and offline.
// The HLS service has no hook for it; its Status is cheap.
func (w *webhooks) pollBroadcasts(ctx context.Context) {
	tick := time.NewTicker(broadcastPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m := w.media.Load()
		if m == nil {
			continue
		}
		w.mu.Lock()
		names := make([]string, 0, len(w.rooms))
		for name := range w.rooms {
			names = append(names, name)
		}
		w.mu.Unlock()
		for _, name := range names {
			st := m.broadcast.Status(name)
			live := st.State == "live" || st.Program.Live
			w.mu.Lock()
			if rs := w.rooms[name]; rs != nil && rs.live != live {
				rs.live = live
				typ := webhook.BroadcastOffline
				if live {
					typ = webhook.BroadcastLive
				}
				w.emit(webhook.Event{Type: typ, Room: name})
			}
			w.mu.Unlock()
		}
	}
}

// recordingChanged reports a recording created (recording_started) and
// one that reached complete or failed (recording_finished). The finished
// event's ID is derived from the recording's, so that a second write of
// the same end (as after a restart) is deduplicated like a redelivery.
func (w *webhooks) recordingChanged(rec storage.Recording, created bool) {
	info := &webhook.Recording{ID: rec.ID, Status: rec.Status, StartedAt: rec.StartedAt}
	switch {
	case created:
		w.emit(webhook.Event{ID: "evt_recording_started_" + rec.ID, Type: webhook.RecordingStarted, Room: rec.RoomID, Recording: info})
	case rec.Status == storage.RecordingComplete || rec.Status == storage.RecordingFailed:
		ended := rec.EndedAt
		info.EndedAt, info.DurationMS, info.SizeBytes = &ended, rec.Duration.Milliseconds(), rec.SizeBytes
		if m := w.media.Load(); m != nil {
			if path := m.recorder.PlaybackPath(rec, time.Now()); path != "" {
				info.PlaybackURL = m.publicURL + path
			}
		}
		w.emit(webhook.Event{ID: "evt_recording_finished_" + rec.ID, Type: webhook.RecordingFinished, Room: rec.RoomID, Recording: info})
	}
}

// question reports a chat question waiting for a moderator.
func (w *webhooks) question(m chat.Message) {
	w.emit(webhook.Event{Type: webhook.ChatQuestion, Room: m.Room,
		Question: &webhook.Question{ID: m.ID, From: m.From, FromName: m.FromName, Text: m.Text}})
}

// register exports the dispatcher's counts as metrics:
// lectern_webhook_events_total{outcome="emitted|delivered|dropped|expired"}
// and lectern_webhook_failed_attempts_total.
func (w *webhooks) register(reg prometheus.Registerer) {
	if w == nil {
		return
	}
	for outcome, count := range map[string]func(webhook.Stats) int64{
		"emitted":   func(s webhook.Stats) int64 { return s.Emitted },
		"delivered": func(s webhook.Stats) int64 { return s.Delivered },
		"dropped":   func(s webhook.Stats) int64 { return s.Dropped },
		"expired":   func(s webhook.Stats) int64 { return s.Expired },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "lectern_webhook_events_total",
			Help:        "Webhook events by outcome: emitted, delivered, dropped (queue or outbox full), expired (retried too long).",
			ConstLabels: prometheus.Labels{"outcome": outcome},
		}, func() float64 { return float64(count(w.d.Stats())) }))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "lectern_webhook_failed_attempts_total",
		Help: "Webhook delivery attempts that failed (each is retried).",
	}, func() float64 { return float64(w.d.Stats().Failed) }))
}
