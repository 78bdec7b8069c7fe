package usage

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lectern/storage"
)

// maxViewerNames bounds the viewer identities one room remembers from its
// multivariant playlist requests; past it new viewers count as anonymous.
const maxViewerNames = 100_000

// viewerNameTTL is how long a viewer's identity is remembered after its
// multivariant playlist request: as long as an HLS session lasts (docs/hls.md).
const viewerNameTTL = 4*time.Hour + 5*time.Minute

// Tracker keeps the usage and attendance of this node's rooms in memory and
// writes them in batches. Its state is guarded by mu; the hooks (Joined,
// Left, ViewerIdentified, PlaylistRequested) only touch memory and never
// block on the database. Flush writes what changed; Run flushes, prunes and,
// when its context ends, closes what is open.
type Tracker struct {
	cfg  Config
	db   *storage.DB
	log  *slog.Logger
	now  func() time.Time
	salt []byte
	m    *metrics

	// flushMu makes flushes one at a time (Run's and the API's).
	flushMu sync.Mutex

	mu    sync.Mutex
	rooms map[string]*room
	live  map[string]*appLive
	// What the next flush writes: usage deltas per app and month, new
	// identities, and the latest state of changed sessions and entries.
	deltas     map[[2]string]*storage.UsageDelta
	identities map[storage.UsageIdentity]struct{}
	sessions   map[string]storage.AttendanceSession
	entries    map[string]storage.AttendanceEntry
}

// room is one room's presence on this node.
type room struct {
	id, app      string
	session      *storage.AttendanceSession // nil between sessions
	participants map[string]*stay           // by SFU participant ID
	viewers      map[string]*stay           // by viewer key
	names        map[string]viewerName      // by viewer key
	emptySince   time.Time                  // when the room last emptied; zero while someone is there
	lastLeft     time.Time                  // the latest leave in the session
}

// stay is one entry in progress: a participant or a viewer present now.
type stay struct {
	entry storage.AttendanceEntry
	// accrued is how far its time is counted in the usage.
	accrued time.Time
	// last is a viewer's last media playlist request.
	last time.Time
	// anonymous: a viewer whose token we did not see, not an identity.
	anonymous bool
}

// viewerName is the identity a viewer's multivariant request's token named.
type viewerName struct {
	identity, name string
	at             time.Time
}

// appLive is who is present now in an app's rooms on this node.
type appLive struct{ participants, viewers int }

// New builds a tracker on db and registers its metrics with reg. It starts
// nothing; Run flushes periodically, or the caller calls Flush.
func New(cfg Config, db *storage.DB, reg prometheus.Registerer, log *slog.Logger) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || reg == nil || log == nil {
		return nil, errors.New("usage: db, registry and log are required")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	t := &Tracker{cfg: cfg, db: db, log: log, now: func() time.Time { return now().UTC().Truncate(time.Millisecond) },
		salt: salt, m: m, rooms: map[string]*room{}, live: map[string]*appLive{}}
	t.reset()
	return t, nil
}

// reset empties what the next flush writes. Called with mu held.
func (t *Tracker) reset() {
	t.deltas = map[[2]string]*storage.UsageDelta{}
	t.identities = map[storage.UsageIdentity]struct{}{}
	t.sessions = map[string]storage.AttendanceSession{}
	t.entries = map[string]storage.AttendanceEntry{}
}

// newID returns a random ID with prefix.
func newID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// anonymous names a viewer without a known identity: a salted hash of its
// key (client address and user agent), stable for this process's life and
// not reversible to the address.
func (t *Tracker) anonymous(key string) string {
	h := sha256.New()
	h.Write(t.salt)
	h.Write([]byte(key))
	return "anonymous-" + hex.EncodeToString(h.Sum(nil)[:6])
}

// roomLocked returns the state of room id, made if new. Called with mu held.
func (t *Tracker) roomLocked(id string) *room {
	r := t.rooms[id]
	if r == nil {
		r = &room{id: id, app: AppOf(id), participants: map[string]*stay{}, viewers: map[string]*stay{}, names: map[string]viewerName{}}
		t.rooms[id] = r
	}
	return r
}

func (t *Tracker) appLocked(app string) *appLive {
	a := t.live[app]
	if a == nil {
		a = &appLive{}
		t.live[app] = a
	}
	return a
}

// Joined records a participant (any kind the SFU has: browser, whip, whep,
// encoder) joining room.
func (t *Tracker) Joined(roomID, participantID, identity, name, kind string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	r := t.roomLocked(roomID)
	if _, ok := r.participants[participantID]; ok {
		return
	}
	s := t.arriveLocked(r, now, storage.AttendanceEntry{Identity: identity, Name: name, Role: storage.RoleParticipant, Kind: kind})
	r.participants[participantID] = s
	t.appLocked(r.app).participants++
	t.identityLocked(r.app, identity, now)
	t.m.joins.WithLabelValues(r.app, storage.RoleParticipant).Inc()
	t.m.present.WithLabelValues(r.app, storage.RoleParticipant).Inc()
	t.peaksLocked(r, now)
}

// Left records a participant leaving room.
func (t *Tracker) Left(roomID, participantID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rooms[roomID]
	if r == nil || r.participants[participantID] == nil {
		return
	}
	now := t.now()
	s := r.participants[participantID]
	delete(r.participants, participantID)
	t.accrueLocked(r.app, s, now)
	t.leaveLocked(r, s, now)
	t.appLocked(r.app).participants--
	t.m.present.WithLabelValues(r.app, storage.RoleParticipant).Dec()
}

// ViewerIdentified records the identity whose token loaded room's
// multivariant playlist from the client viewerKey names (its address and
// user agent), so that its media playlist requests count for that identity.
func (t *Tracker) ViewerIdentified(roomID, viewerKey, identity, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	r := t.roomLocked(roomID)
	if _, ok := r.names[viewerKey]; ok || len(r.names) < maxViewerNames {
		r.names[viewerKey] = viewerName{identity: identity, name: name, at: now}
	}
	if s := r.viewers[viewerKey]; s != nil && s.entry.Identity != identity {
		s.entry.Identity, s.entry.Name, s.anonymous = identity, name, false
		t.entries[s.entry.ID] = s.entry
		t.identityLocked(r.app, identity, now)
	}
}

// PlaylistRequested records a media playlist request of room by the client
// viewerKey names: the first begins a viewer's stay, the others extend it.
// It costs a map lookup under the tracker's lock.
func (t *Tracker) PlaylistRequested(roomID, viewerKey string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	r := t.roomLocked(roomID)
	if s := r.viewers[viewerKey]; s != nil {
		s.last = now
		return
	}
	e := storage.AttendanceEntry{Role: storage.RoleViewer, Kind: "hls"}
	if n, ok := r.names[viewerKey]; ok {
		e.Identity, e.Name = n.identity, n.name
		t.identityLocked(r.app, n.identity, now)
	} else {
		e.Identity = t.anonymous(viewerKey)
	}
	s := t.arriveLocked(r, now, e)
	s.last, s.anonymous = now, e.Identity != "" && !hasName(r, viewerKey)
	r.viewers[viewerKey] = s
	if !r.session.Broadcast {
		r.session.Broadcast = true
		t.sessions[r.session.ID] = *r.session
	}
	t.appLocked(r.app).viewers++
	t.m.joins.WithLabelValues(r.app, storage.RoleViewer).Inc()
	t.m.present.WithLabelValues(r.app, storage.RoleViewer).Inc()
	t.peaksLocked(r, now)
}

// arriveLocked starts a stay of e in r's session, starting the session if
// none runs.
func (t *Tracker) arriveLocked(r *room, now time.Time, e storage.AttendanceEntry) *stay {
	if r.session == nil {
		r.session = &storage.AttendanceSession{ID: newID("SE_"), App: r.app, RoomID: r.id, Node: t.cfg.Node, StartedAt: now}
		r.lastLeft = time.Time{}
		t.sessions[r.session.ID] = *r.session
		t.m.sessions.WithLabelValues(r.app).Inc()
	}
	r.emptySince = time.Time{}
	e.ID, e.SessionID, e.JoinedAt = newID("AE_"), r.session.ID, now
	t.entries[e.ID] = e
	return &stay{entry: e, accrued: now}
}

// leaveLocked ends stay s at `at`; the room's session ends SessionGap after
// it empties (Flush).
func (t *Tracker) leaveLocked(r *room, s *stay, at time.Time) {
	s.entry.LeftAt = at
	t.entries[s.entry.ID] = s.entry
	if at.After(r.lastLeft) {
		r.lastLeft = at
	}
	// A viewer is found gone at a flush, after its last request: the room
	// emptied at the latest leave, which may be a participant's after it.
	if len(r.participants)+len(r.viewers) == 0 {
		r.emptySince = r.lastLeft
	}
}

// identityLocked counts identity as active in app this month.
func (t *Tracker) identityLocked(app, identity string, now time.Time) {
	if identity == "" {
		return
	}
	t.identities[storage.UsageIdentity{App: app, Month: monthKey(now), Identity: identity}] = struct{}{}
}

// deltaLocked returns the pending delta of app in month.
func (t *Tracker) deltaLocked(app, month string) *storage.UsageDelta {
	k := [2]string{app, month}
	d := t.deltas[k]
	if d == nil {
		d = &storage.UsageDelta{App: app, Month: month, Node: t.cfg.Node}
		t.deltas[k] = d
	}
	return d
}

// peaksLocked raises the month's peaks of r's app and the peak audience of
// r's session to who is present now.
func (t *Tracker) peaksLocked(r *room, now time.Time) {
	a := t.appLocked(r.app)
	d := t.deltaLocked(r.app, monthKey(now))
	d.PeakParticipants = max(d.PeakParticipants, a.participants)
	d.PeakViewers = max(d.PeakViewers, a.viewers)
	d.PeakConcurrent = max(d.PeakConcurrent, a.participants+a.viewers)
	if n := len(r.participants) + len(r.viewers); r.session != nil && n > r.session.PeakAudience {
		r.session.PeakAudience = n
		t.sessions[r.session.ID] = *r.session
	}
}

// hasName reports whether r knows the identity of viewer key.
func hasName(r *room, key string) bool { _, ok := r.names[key]; return ok }

// accrueLocked counts s's time from where it was counted to `to` in the
// usage of app, split at month boundaries. In each month after the first,
// s is one of the month's active identities and present for its peaks.
func (t *Tracker) accrueLocked(app string, s *stay, to time.Time) {
	from := s.accrued
	if !to.After(from) {
		return
	}
	s.accrued = to
	t.m.seconds(app, s.entry.Role, to.Sub(from))
	for from.Before(to) {
		end := nextMonth(from)
		if end.After(to) {
			end = to
		}
		ms := end.Sub(from).Milliseconds()
		d := t.deltaLocked(app, monthKey(from))
		if from.Equal(monthStart(from)) {
			a := t.appLocked(app)
			d.PeakParticipants = max(d.PeakParticipants, a.participants)
			d.PeakViewers = max(d.PeakViewers, a.viewers)
			d.PeakConcurrent = max(d.PeakConcurrent, a.participants+a.viewers)
			if !s.anonymous {
				t.identityLocked(app, s.entry.Identity, from)
			}
		}
		if s.entry.Role == storage.RoleViewer {
			d.ViewerMS += ms
		} else {
			d.ParticipantMS += ms
		}
		from = end
	}
}

// Now is the tracker's clock.
func (t *Tracker) Now() time.Time { return t.now() }

// Present returns who is in room on this node now, as the tracker counts
// them: participants, and HLS viewers whose last playlist request is less
// than ViewerIdle old (or not yet flushed out).
func (t *Tracker) Present(roomID string) (participants, viewers int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.rooms[roomID]; r != nil {
		return len(r.participants), len(r.viewers)
	}
	return 0, 0
}
