package usage_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lectern/storage"
	"lectern/storage/storagetest"
	"lectern/usage"
)

// clock is a clock that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// rig is a tracker on a real store with a clock of its own.
type rig struct {
	t   *testing.T
	db  *storage.DB
	clk *clock
	tr  *usage.Tracker
	reg *prometheus.Registry
}

func newRig(t *testing.T, b storagetest.Backend, start time.Time, rooms ...string) *rig {
	t.Helper()
	db := storagetest.Open(t, b)
	for _, id := range rooms {
		if _, err := db.CreateRoom(t.Context(), storage.Room{ID: id, Name: id, Mode: "webinar", Tier: "hd"}); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{t: start}
	cfg := usage.DefaultConfig()
	cfg.Node, cfg.Now = "n1", clk.Now
	reg := prometheus.NewRegistry()
	tr, err := usage.New(cfg, db, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, db: db, clk: clk, tr: tr, reg: reg}
}

func (r *rig) flush() {
	r.t.Helper()
	if err := r.tr.Flush(r.t.Context()); err != nil {
		r.t.Fatal(err)
	}
}

// watch makes viewer key load playlists of room every second for d.
func (r *rig) watch(room, key string, d time.Duration) {
	for i := time.Duration(0); i < d; i += time.Second {
		r.tr.PlaylistRequested(room, key)
		r.clk.Advance(time.Second)
	}
	r.tr.PlaylistRequested(room, key)
}

func (r *rig) onlySession(room string) usage.Session {
	r.t.Helper()
	list, err := r.tr.Sessions(r.t.Context(), room)
	if err != nil || len(list) != 1 {
		r.t.Fatalf("sessions of %s: %+v, %v; want one", room, list, err)
	}
	return list[0]
}

func attendee(t *testing.T, a usage.Attendance, identity, role string) usage.Attendee {
	t.Helper()
	for _, at := range a.Attendees {
		if at.Identity == identity && at.Role == role {
			return at
		}
	}
	t.Fatalf("no %s %s in %+v", role, identity, a.Attendees)
	return usage.Attendee{}
}

// TestAttendanceReport follows one webinar session minute by minute on an
// injected clock: participants join, leave and come back, a named and an
// anonymous HLS viewer watch, questions are asked; the report and the
// month's usage say exactly that.
func TestAttendanceReport(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		t0 := time.Date(2026, 5, 10, 14, 0, 0, 0, time.UTC)
		r := newRig(t, b, t0, "town-hall", "other")
		ctx := t.Context()
		tr := r.tr

		tr.Joined("town-hall", "PA_a1", "alice", "Alice A.", "browser")
		r.clk.Advance(time.Minute)
		tr.Joined("town-hall", "PA_b", "bob", "Bob", "whip")
		r.flush()
		// carol's token loaded the multivariant playlist; she watches 3 min.
		tr.ViewerIdentified("town-hall", "10.0.0.7 hls.js", "carol", "Carol")
		r.watch("town-hall", "10.0.0.7 hls.js", 3*time.Minute) // t0+1m .. t0+4m
		// An anonymous viewer for 30 s.
		r.watch("town-hall", "10.0.0.8 VLC", 30*time.Second) // t0+4m .. t0+4m30s
		r.clk.Advance(30 * time.Second)                      // t0+5m
		tr.Left("town-hall", "PA_a1")
		r.flush() // both viewers idle for >= 15 s: their stays end at their last request
		r.clk.Advance(time.Minute)
		tr.Joined("town-hall", "PA_a2", "alice", "Alice A.", "browser") // t0+6m
		if _, err := r.db.InsertMessages(ctx, []storage.NewMessage{
			{RoomID: "town-hall", Sender: "carol", SenderName: "Carol", Kind: storage.KindQuestion, State: storage.StateAnswered, Text: "q1", CreatedAt: t0.Add(2 * time.Minute)},
			{RoomID: "town-hall", Sender: "carol", SenderName: "Carol", Kind: storage.KindQuestion, State: storage.StatePending, Text: "q2", CreatedAt: t0.Add(3 * time.Minute)},
			{RoomID: "town-hall", Sender: "dave", SenderName: "Dave", Kind: storage.KindQuestion, State: storage.StateAnswered, Text: "q3", CreatedAt: t0.Add(7 * time.Minute)},
			{RoomID: "town-hall", Sender: "bob", SenderName: "Bob", Kind: storage.KindMessage, Text: "not a question", CreatedAt: t0.Add(7 * time.Minute)},
			{RoomID: "town-hall", Sender: "dave", Kind: storage.KindQuestion, Text: "before the session", CreatedAt: t0.Add(-time.Hour)},
		}); err != nil {
			t.Fatal(err)
		}
		r.clk.Advance(4 * time.Minute) // t0+10m
		tr.Left("town-hall", "PA_b")
		tr.Left("town-hall", "PA_a2")

		// Live: the session has not ended until the room stood empty for the gap.
		r.flush()
		if s := r.onlySession("town-hall"); !s.Live || s.EndedAt != nil {
			t.Fatalf("session right after the last leave = %+v; want still live (the gap has not passed)", s)
		}
		r.clk.Advance(usage.DefaultConfig().SessionGap)
		r.flush()
		s := r.onlySession("town-hall")
		if s.Live || s.EndedAt == nil || !s.EndedAt.Equal(t0.Add(10*time.Minute)) || !s.StartedAt.Equal(t0) {
			t.Fatalf("session = %+v; want %v to %v", s, t0, t0.Add(10*time.Minute))
		}
		if s.PeakAudience != 4 || !s.Broadcast || s.DurationSeconds != 600 {
			t.Errorf("session = %+v; want peak audience 4 (alice, bob, carol, the anonymous viewer), broadcast, 600 s", s)
		}

		a, err := tr.Attendance(ctx, "town-hall", s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Participants != 2 || a.Viewers != 2 || a.QuestionsAsked != 3 || a.QuestionsAnswered != 2 {
			t.Errorf("totals: %d participants, %d viewers, %d asked, %d answered; want 2, 2, 3, 2", a.Participants, a.Viewers, a.QuestionsAsked, a.QuestionsAnswered)
		}
		alice := attendee(t, a, "alice", storage.RoleParticipant)
		if alice.Name != "Alice A." || len(alice.Stays) != 2 || alice.PresentSeconds != 9*60 ||
			!alice.FirstJoinedAt.Equal(t0) || !alice.LastLeftAt.Equal(t0.Add(10*time.Minute)) || alice.Present {
			t.Errorf("alice = %+v; want two stays, 540 s, %v to %v", alice, t0, t0.Add(10*time.Minute))
		}
		if l := alice.Stays[0].LeftAt; l == nil || !l.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("alice's first stay ended %v; want %v", l, t0.Add(5*time.Minute))
		}
		if bob := attendee(t, a, "bob", storage.RoleParticipant); bob.PresentSeconds != 9*60 || bob.Kinds[0] != "whip" {
			t.Errorf("bob = %+v; want 540 s over WHIP", bob)
		}
		carol := attendee(t, a, "carol", storage.RoleViewer)
		if carol.Name != "Carol" || carol.PresentSeconds != 180 || carol.QuestionsAsked != 2 || carol.QuestionsAnswered != 1 {
			t.Errorf("carol = %+v; want a viewer for 180 s who asked 2 and got 1 answered", carol)
		}
		var anon usage.Attendee
		for _, at := range a.Attendees {
			if strings.HasPrefix(at.Identity, "anonymous-") {
				anon = at
			}
		}
		if anon.Role != storage.RoleViewer || anon.PresentSeconds != 30 || strings.Contains(anon.Identity, "10.0.0.8") {
			t.Errorf("anonymous viewer = %+v; want a viewer for 30 s, not named by its address", anon)
		}
		if dave := attendee(t, a, "dave", usage.RoleChat); dave.QuestionsAsked != 1 || dave.QuestionsAnswered != 1 || dave.PresentSeconds != 0 {
			t.Errorf("dave = %+v; want a chat-only attendee with 1 question answered (the one before the session not counted)", dave)
		}

		u, err := tr.Usage(ctx, "default", t0)
		if err != nil {
			t.Fatal(err)
		}
		want := usage.Report{App: "default", Month: "2026-05", ActiveIdentities: 3, ParticipantMinutes: 18, ViewerMinutes: 3.5,
			PeakConcurrent: 4, PeakParticipants: 2, PeakViewers: 2, Nodes: 1}
		u.From, u.To = time.Time{}, time.Time{}
		if u != want {
			t.Errorf("usage = %+v\nwant    %+v", u, want)
		}
		if other, err := tr.Sessions(ctx, "other"); err != nil || len(other) != 0 {
			t.Errorf("sessions of another room = %+v, %v; want none", other, err)
		}
		if _, err := tr.Attendance(ctx, "other", s.ID); err != storage.ErrNotFound {
			t.Errorf("another room's attendance of this session: %v; want ErrNotFound", err)
		}
	})
}

// TestUsageMonths: time is split at the month's end, each month counts its
// own active identities and peaks, and a month with nobody is all zeros.
func TestUsageMonths(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		end := time.Date(2026, 1, 31, 23, 50, 0, 0, time.UTC)
		r := newRig(t, b, end, "r")
		ctx := t.Context()
		r.tr.Joined("r", "PA_1", "erin", "Erin", "browser")
		r.clk.Advance(5 * time.Minute)
		r.flush()
		r.clk.Advance(15 * time.Minute) // 2026-02-01 00:10
		r.tr.Left("r", "PA_1")
		r.flush()
		jan, err := r.tr.Usage(ctx, "default", end)
		if err != nil {
			t.Fatal(err)
		}
		feb, err := r.tr.Usage(ctx, "default", end.AddDate(0, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		if jan.ParticipantMinutes != 10 || feb.ParticipantMinutes != 10 || jan.ActiveIdentities != 1 || feb.ActiveIdentities != 1 || jan.PeakConcurrent != 1 || feb.PeakConcurrent != 1 {
			t.Errorf("january %+v, february %+v; want 10 minutes each, erin active and the peak 1 in both (she was there in both)", jan, feb)
		}
		mar, err := r.tr.Usage(ctx, "default", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		if err != nil || mar.ParticipantMinutes != 0 || mar.ActiveIdentities != 0 || mar.Nodes != 0 {
			t.Errorf("march = %+v, %v; want nothing", mar, err)
		}
		if other, err := r.tr.Usage(ctx, "another-app", end); err != nil || other.ParticipantMinutes != 0 {
			t.Errorf("another app = %+v, %v; want nothing", other, err)
		}
	})
}

// TestFlushFailureKeepsCounts: a flush the database refuses loses nothing.
func TestFlushFailureKeepsCounts(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		t0 := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
		r := newRig(t, b, t0, "r")
		r.tr.Joined("r", "PA_1", "frank", "Frank", "browser")
		r.clk.Advance(2 * time.Minute)
		canceled, cancel := context.WithCancel(t.Context())
		cancel()
		if err := r.tr.Flush(canceled); err == nil {
			t.Fatal("flush on a canceled context succeeded")
		}
		r.clk.Advance(time.Minute)
		r.tr.Left("r", "PA_1")
		r.flush()
		u, err := r.tr.Usage(t.Context(), "default", t0)
		if err != nil || u.ParticipantMinutes != 3 || u.ActiveIdentities != 1 || u.PeakConcurrent != 1 {
			t.Errorf("usage = %+v, %v; want 3 minutes of 1 identity", u, err)
		}
		if s := r.onlySession("r"); s.PeakAudience != 1 {
			t.Errorf("session = %+v", s)
		}
	})
}

// TestRetention: sessions that ended longer than the retention ago are
// deleted with their entries, and the month's active identities survive as
// a count; a crashed node's open sessions end at its last flush.
func TestRetention(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		t0 := time.Date(2025, 1, 5, 10, 0, 0, 0, time.UTC)
		r := newRig(t, b, t0, "r")
		ctx := t.Context()
		r.tr.Joined("r", "PA_1", "gina", "Gina", "browser")
		r.clk.Advance(time.Minute)
		r.tr.Left("r", "PA_1")
		r.clk.Advance(time.Hour)
		r.flush()
		old := r.onlySession("r")

		// A year and a month later.
		r.clk.Advance(400 * 24 * time.Hour)
		before := r.clk.Now().Add(-usage.DefaultConfig().Retention)
		if n, err := r.db.PruneAttendance(ctx, r.clk.Now(), usage.DefaultConfig().Retention); err != nil || n != 1 {
			t.Fatalf("pruned %d sessions, %v; want 1", n, err)
		}
		if n, err := r.db.PruneUsageIdentities(ctx, before.Format("2006-01")); err != nil || n != 1 {
			t.Fatalf("pruned %d identities, %v; want 1", n, err)
		}
		if _, err := r.tr.Attendance(ctx, "r", old.ID); err != storage.ErrNotFound {
			t.Errorf("pruned session: %v; want ErrNotFound", err)
		}
		if entries, err := r.db.AttendanceEntries(ctx, old.ID); err != nil || len(entries) != 0 {
			t.Errorf("pruned session's entries: %d, %v; want none", len(entries), err)
		}
		if u, err := r.tr.Usage(ctx, "default", t0); err != nil || u.ActiveIdentities != 1 || u.ParticipantMinutes != 1 {
			t.Errorf("pruned month = %+v, %v; want 1 active identity and 1 minute kept", u, err)
		}

		// A node that stops without ending its session (a crash).
		r.tr.Joined("r", "PA_2", "hal", "Hal", "browser")
		r.clk.Advance(time.Minute)
		r.flush()
		if n, err := r.db.CloseStaleAttendance(ctx, "n1"); err != nil || n != 1 {
			t.Fatalf("closed %d stale sessions, %v; want 1", n, err)
		}
		s := r.onlySession("r")
		a, err := r.tr.Attendance(ctx, "r", s.ID)
		if err != nil || s.Live || len(a.Attendees) != 1 || a.Attendees[0].Present || a.Attendees[0].LastLeftAt == nil {
			t.Errorf("after the crash: %+v, %+v, %v; want the session and hal's stay ended", s, a, err)
		}
	})
}

// TestDeletedRoomDropsSessions: deleting a room deletes its reports, and a
// session still running in memory does not bring them back.
func TestDeletedRoomDropsSessions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		r := newRig(t, b, time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC), "gone")
		r.tr.Joined("gone", "PA_1", "ivy", "Ivy", "browser")
		r.flush()
		if err := r.db.DeleteRoom(t.Context(), "gone"); err != nil {
			t.Fatal(err)
		}
		r.clk.Advance(time.Minute)
		r.tr.Left("gone", "PA_1")
		r.tr.Joined("gone", "PA_2", "ivy", "Ivy", "browser")
		r.flush()
		if list, err := r.tr.Sessions(t.Context(), "gone"); err != nil || len(list) != 0 {
			t.Errorf("sessions of a deleted room: %+v, %v; want none", list, err)
		}
		if u, err := r.tr.Usage(t.Context(), "default", r.clk.Now()); err != nil || u.ParticipantMinutes != 1 {
			t.Errorf("usage = %+v, %v; want the minute counted all the same", u, err)
		}
	})
}

// TestSessionEndsAtTheLastLeave: a viewer found gone at a flush, after a
// participant who left later than the viewer's last request: the session
// ends when the participant left.
func TestSessionEndsAtTheLastLeave(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		t0 := time.Date(2026, 8, 3, 18, 0, 0, 0, time.UTC)
		r := newRig(t, b, t0, "r")
		r.tr.Joined("r", "PA_1", "host", "Host", "encoder")
		r.watch("r", "viewer", 90*time.Second) // last request at +1m30s
		r.clk.Advance(30 * time.Second)
		r.tr.Left("r", "PA_1") // +2m
		r.clk.Advance(time.Minute)
		r.flush() // the viewer is found gone: the room is empty
		r.clk.Advance(usage.DefaultConfig().SessionGap)
		r.flush()
		if s := r.onlySession("r"); s.Live || !s.EndedAt.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("session = %+v; want it ended at %v, when the host left", s, t0.Add(2*time.Minute))
		}
	})
}

// TestUsageByApp: each app's report counts its own rooms only, and the
// Prometheus series carry the app.
func TestUsageByApp(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		start := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
		r := newRig(t, b, start, "standup")
		ctx := t.Context()
		if _, err := r.db.CreateApp(ctx, storage.App{ID: "acme", Name: "Acme"}); err != nil {
			t.Fatal(err)
		}
		acme := storage.RoomKey("acme", "standup")
		if _, err := r.db.CreateRoom(ctx, storage.Room{ID: acme, App: "acme", Name: "standup", Mode: "webinar", Tier: "hd"}); err != nil {
			t.Fatal(err)
		}
		r.tr.Joined("standup", "PA_1", "kim", "Kim", "browser")
		r.tr.Joined(acme, "PA_2", "lee", "Lee", "browser")
		r.tr.Joined(acme, "PA_3", "max", "Max", "browser")
		r.clk.Advance(10 * time.Minute)
		r.tr.Left("standup", "PA_1")
		r.tr.Left(acme, "PA_2")
		r.tr.Left(acme, "PA_3")
		r.flush()
		def, err := r.tr.Usage(ctx, "default", start)
		if err != nil {
			t.Fatal(err)
		}
		other, err := r.tr.Usage(ctx, "acme", start)
		if err != nil {
			t.Fatal(err)
		}
		if def.ActiveIdentities != 1 || def.ParticipantMinutes != 10 || other.ActiveIdentities != 2 || other.ParticipantMinutes != 20 {
			t.Errorf("default %+v, acme %+v; want 1 identity and 10 minutes, 2 and 20", def, other)
		}
		if list, err := r.tr.Sessions(ctx, acme); err != nil || len(list) != 1 {
			t.Errorf("acme's standup: %d sessions (%v), want 1", len(list), err)
		}
		families, err := r.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		apps := map[string]bool{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "app" {
						apps[l.GetValue()] = true
					}
				}
			}
		}
		if !apps["default"] || !apps["acme"] {
			t.Errorf("metrics carry apps %v, want default and acme", apps)
		}
	})
}

// TestRetentionPerApp: an app's own attendance retention decides when its
// reports go; apps without one keep the server's.
func TestRetentionPerApp(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		r := newRig(t, b, t0, "town-hall")
		ctx := t.Context()
		week := int64(7)
		if _, err := r.db.CreateApp(ctx, storage.App{ID: "brief", Name: "Brief", AttendanceRetentionDays: &week}); err != nil {
			t.Fatal(err)
		}
		brief := storage.RoomKey("brief", "town-hall")
		if _, err := r.db.CreateRoom(ctx, storage.Room{ID: brief, App: "brief", Name: "town-hall", Mode: "webinar", Tier: "hd"}); err != nil {
			t.Fatal(err)
		}
		for _, room := range []string{"town-hall", brief} {
			r.tr.Joined(room, "PA_"+room, "nia", "Nia", "browser")
		}
		r.clk.Advance(time.Minute)
		for _, room := range []string{"town-hall", brief} {
			r.tr.Left(room, "PA_"+room)
		}
		r.clk.Advance(time.Hour)
		r.flush()
		keep := usage.DefaultConfig().Retention
		// Six days on, nothing goes; eight days on, the brief app's report goes.
		r.clk.Advance(6 * 24 * time.Hour)
		if n, err := r.db.PruneAttendance(ctx, r.clk.Now(), keep); err != nil || n != 0 {
			t.Fatalf("after 6 days: pruned %d, %v; want 0", n, err)
		}
		r.clk.Advance(2 * 24 * time.Hour)
		if n, err := r.db.PruneAttendance(ctx, r.clk.Now(), keep); err != nil || n != 1 {
			t.Fatalf("after 8 days: pruned %d, %v; want 1 (the brief app's)", n, err)
		}
		if list, err := r.tr.Sessions(ctx, brief); err != nil || len(list) != 0 {
			t.Errorf("the brief app's room keeps %d sessions (%v), want none", len(list), err)
		}
		r.onlySession("town-hall")
		// Lifting the app's setting puts it back on the server's.
		a, err := r.db.App(ctx, "brief")
		if err != nil || a.AttendanceRetentionDays == nil || *a.AttendanceRetentionDays != 7 {
			t.Fatalf("stored app %+v, %v; want a retention of 7 days", a, err)
		}
		a.AttendanceRetentionDays = nil
		if a, err = r.db.UpdateApp(ctx, a); err != nil || a.AttendanceRetentionDays != nil {
			t.Fatalf("updated app %+v, %v; want no retention of its own", a, err)
		}
	})
}
