package usage_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lectern/storage/storagetest"
	"lectern/usage"
)

// TestNodesAddUp: two nodes on one database each count their own rooms;
// the month's usage adds their minutes and identities (one identity on
// both counts once) and sums their peaks, as documented.
func TestNodesAddUp(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
		r := newRig(t, b, t0, "a", "b")
		cfg := usage.DefaultConfig()
		cfg.Node, cfg.Now = "n2", r.clk.Now
		other, err := usage.New(cfg, r.db, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		r.tr.Joined("a", "PA_1", "kim", "Kim", "browser")
		r.tr.Joined("a", "PA_2", "lee", "Lee", "browser")
		other.Joined("b", "PA_3", "kim", "Kim", "whep")
		r.clk.Advance(10 * time.Minute)
		r.tr.Left("a", "PA_1")
		r.tr.Left("a", "PA_2")
		other.Left("b", "PA_3")
		r.flush()
		if err := other.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		u, err := r.tr.Usage(t.Context(), "default", t0)
		if err != nil {
			t.Fatal(err)
		}
		if u.ParticipantMinutes != 30 || u.ActiveIdentities != 2 || u.PeakConcurrent != 3 || u.PeakParticipants != 3 || u.Nodes != 2 {
			t.Errorf("usage = %+v; want 30 minutes, 2 identities, peaks summed to 3 over 2 nodes", u)
		}
	})
}

// TestRunEndsOpenSessions: when Run's context ends (the server stops), the
// stays and sessions still open end then and are written.
func TestRunEndsOpenSessions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
		r := newRig(t, b, t0, "a")
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.tr.Run(ctx) }()
		r.tr.Joined("a", "PA_1", "max", "Max", "browser")
		r.clk.Advance(3 * time.Minute)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		s := r.onlySession("a")
		a, err := r.tr.Attendance(t.Context(), "a", s.ID)
		if err != nil || s.Live || !s.EndedAt.Equal(t0.Add(3*time.Minute)) || len(a.Attendees) != 1 || a.Attendees[0].PresentSeconds != 180 || a.Attendees[0].Present {
			t.Errorf("after stopping: %+v, %+v, %v; want the session and max's stay ended at +3m", s, a.Attendees, err)
		}
	})
}
