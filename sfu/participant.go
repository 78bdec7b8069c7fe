package sfu

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// eventQueue bounds the events waiting for a participant's signaling writer. A
// participant that falls this far behind is disconnected rather than stall the room.
const eventQueue = 256

// Participant kinds.
const (
	KindBrowser = "browser"
	KindWHIP    = "whip"
	KindWHEP    = "whep"
	KindEncoder = "encoder"
)

// ParticipantOptions describe who joins.
type ParticipantOptions struct {
	Identity, Name, Kind string
	Permissions          access.Permissions
	// Tier is the participant's own tier; "" means the room's.
	Tier access.Tier
	// AutoSubscribe subscribes to every track in the room, now and later.
	AutoSubscribe bool
	// Sources are sources the participant may send although the room's
	// policy refuses them (its member override).
	Sources access.Sources
	// Unwatched keeps the participant's joining and leaving from watchers
	// (webhooks): a cascade edge's pull, whose viewers the edge reports.
	Unwatched bool
}

// Participant is one connection's presence in a room: a publisher peer
// connection (the client offers), a subscriber peer connection (the server
// offers), and the event stream for its signaling. Its fields after the mutex
// are guarded by mu; mu is never held while calling into a Room.
type Participant struct {
	id, identity, name, kind string
	room                     *Room
	log                      *slog.Logger
	autoSubscribe            bool
	unwatched                bool
	tier                     access.Tier
	extra                    access.Sources
	joined                   time.Time

	perms atomic.Pointer[access.Permissions]
	// subConnected is set once the subscriber connection has connected.
	subConnected atomic.Bool
	events       chan Event
	done         chan struct{}
	closeOnce    sync.Once
	reason       atomic.Pointer[string]
	// wg counts the goroutines the participant starts (RTCP readers, the send queue).
	wg sync.WaitGroup
	// out is the subscriber connection's send queue, set with the connection.
	out atomic.Pointer[sendQueue]
	// est is the subscriber connection's bandwidth estimator, set with it.
	est atomic.Pointer[estimator]

	mu        sync.Mutex
	closed    bool
	pub, sub  *webrtc.PeerConnection
	sources   map[string]string
	published map[string]*Track // by the publisher's track ID (msid)
	// retired are unpublished tracks whose readers run until pub closes.
	retired     []*Track
	downs       map[string]*downTrack
	targets     map[*Room]bool
	negotiating bool
	again       bool
}

func newParticipant(r *Room, o ParticipantOptions) *Participant {
	p := &Participant{
		id: newID("PA_"), identity: o.Identity, name: o.Name, kind: o.Kind, room: r,
		autoSubscribe: o.AutoSubscribe, unwatched: o.Unwatched, tier: o.Tier, extra: o.Sources, joined: time.Now().UTC(),
		events: make(chan Event, eventQueue), done: make(chan struct{}),
		sources: map[string]string{}, published: map[string]*Track{}, downs: map[string]*downTrack{},
		targets: map[*Room]bool{r: true},
	}
	p.log = r.sfu.log.With("room", r.id, "participant", p.id)
	perms := o.Permissions
	p.perms.Store(&perms)
	return p
}

// ID is the participant's ID, unique in the server.
func (p *Participant) ID() string { return p.id }

// Identity is the token identity the participant joined with.
func (p *Participant) Identity() string { return p.identity }

// Room is the room the participant joined.
func (p *Participant) Room() *Room { return p.room }

// Permissions returns what the participant may do now.
func (p *Participant) Permissions() access.Permissions { return *p.perms.Load() }

// Events delivers what the participant's client must hear. It is never closed;
// stop reading when Done is closed.
func (p *Participant) Events() <-chan Event { return p.events }

// Done is closed when the participant has left.
func (p *Participant) Done() <-chan struct{} { return p.done }

// Reason says why the participant left, once Done is closed.
func (p *Participant) Reason() string {
	if r := p.reason.Load(); r != nil {
		return *r
	}
	return ""
}

// Info describes the participant in its own room.
func (p *Participant) Info() ParticipantInfo { return p.infoIn(p.room) }

// infoIn describes the participant with the tracks it publishes into r.
func (p *Participant) infoIn(r *Room) ParticipantInfo {
	info := ParticipantInfo{ID: p.id, Identity: p.identity, Name: p.name, Kind: p.kind, JoinedAt: p.joined, Tracks: []TrackInfo{}}
	for _, t := range p.tracks() {
		if _, ok := r.Track(t.id); ok {
			info.Tracks = append(info.Tracks, t.Info())
		}
	}
	return info
}

func (p *Participant) tracks() []*Track {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Track, 0, len(p.published))
	for _, t := range p.published {
		out = append(out, t)
	}
	return out
}

// send queues an event without blocking; a participant whose queue is full is
// closed, since it cannot keep up with the room.
func (p *Participant) send(ev Event) {
	select {
	case <-p.done:
	case p.events <- ev:
	default:
		go p.Close("too slow to receive events")
	}
}

// Close leaves the room: tracks are unpublished, subscriptions end, peer
// connections close. It is idempotent and waits for the participant's goroutines.
func (p *Participant) Close(reason string) {
	p.closeOnce.Do(func() {
		p.reason.Store(&reason)
		p.mu.Lock()
		p.closed = true
		pub, sub := p.pub, p.sub
		published := p.published
		p.published = map[string]*Track{}
		retired := p.retired
		targets := p.targets
		p.targets = map[*Room]bool{}
		p.downs = map[string]*downTrack{}
		p.mu.Unlock()

		for _, t := range published {
			t.end()
			for r := range targets {
				r.removeTrack(t)
			}
		}
		for r := range targets {
			if r != p.room {
				r.removeGuest(p)
			}
		}
		for _, t := range p.room.Tracks() {
			p.dropDown(t)
		}
		if pub != nil {
			pub.Close()
		}
		if sub != nil {
			sub.Close()
		}
		if q := p.out.Load(); q != nil {
			close(q.stop)
		}
		for _, t := range published {
			t.close()
		}
		for _, t := range retired {
			t.close()
		}
		p.wg.Wait()
		p.room.leave(p)
		close(p.done)
		p.log.Info("participant closed", "reason", reason)
	})
}

// dropDown removes p's subscriber from t, if any.
func (p *Participant) dropDown(t *Track) {
	for _, s := range *t.sinks.Load() {
		if d, ok := s.(*downTrack); ok && d.sub == p {
			t.RemoveSink(d)
		}
	}
}
