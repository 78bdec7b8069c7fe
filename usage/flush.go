package usage

import (
	"context"
	"time"

	"lectern/storage"
)

// finalFlushTimeout bounds the last flush when Run's context ends.
const finalFlushTimeout = 10 * time.Second

// Run ends what an earlier run of this node left open (a crash), then
// flushes every FlushInterval and prunes every PruneInterval until ctx
// ends; then it ends every stay and session still open and flushes them.
func (t *Tracker) Run(ctx context.Context) error {
	if n, err := t.db.CloseStaleAttendance(ctx, t.cfg.Node); err != nil {
		t.log.Warn("usage: closing the sessions an earlier run left open", "err", err)
	} else if n > 0 {
		t.log.Info("usage: ended the sessions an earlier run left open", "sessions", n)
	}
	t.prune(ctx)
	flush := time.NewTicker(t.cfg.FlushInterval)
	defer flush.Stop()
	prune := time.NewTicker(t.cfg.PruneInterval)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			t.closeAll()
			fctx, cancel := context.WithTimeout(context.Background(), finalFlushTimeout)
			defer cancel()
			if err := t.Flush(fctx); err != nil {
				t.log.Warn("usage: last flush", "err", err)
			}
			return nil
		case <-flush.C:
			if err := t.Flush(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("usage: flush (kept for the next)", "err", err)
			}
		case <-prune.C:
			t.prune(ctx)
		}
	}
}

// prune deletes the attendance reports that ended longer ago than their
// app's retention (Retention for apps without one), and folds the identities
// of months that ended before Retention into counts.
func (t *Tracker) prune(ctx context.Context) {
	before := t.now().Add(-t.cfg.Retention)
	sessions, err := t.db.PruneAttendance(ctx, t.now(), t.cfg.Retention)
	if err != nil {
		t.log.Warn("usage: prune attendance", "err", err)
		return
	}
	ids, err := t.db.PruneUsageIdentities(ctx, monthKey(before))
	if err != nil {
		t.log.Warn("usage: prune identities", "err", err)
		return
	}
	if sessions > 0 || ids > 0 {
		t.log.Info("usage: pruned past attendance_retention", "sessions", sessions, "identities", ids)
	}
}

// closeAll ends every stay and session now: the node is stopping.
func (t *Tracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for id, r := range t.rooms {
		for pid, s := range r.participants {
			t.accrueLocked(r.app, s, now)
			delete(r.participants, pid)
			t.leaveLocked(r, s, now)
			t.appLocked(r.app).participants--
			t.m.present.WithLabelValues(r.app, storage.RoleParticipant).Dec()
		}
		for key, s := range r.viewers {
			t.endViewerLocked(r, key, s)
		}
		if r.session != nil {
			r.session.EndedAt = now
			t.sessions[r.session.ID] = *r.session
		}
		delete(t.rooms, id)
	}
}

// endViewerLocked ends viewer key's stay at its last playlist request.
func (t *Tracker) endViewerLocked(r *room, key string, s *stay) {
	t.accrueLocked(r.app, s, s.last)
	delete(r.viewers, key)
	t.leaveLocked(r, s, s.last)
	t.appLocked(r.app).viewers--
	t.m.present.WithLabelValues(r.app, storage.RoleViewer).Dec()
}

// tick brings the memory up to now: counts the time of who is present,
// ends viewers idle for ViewerIdle and sessions empty for SessionGap, and
// forgets idle rooms. Called with mu held.
func (t *Tracker) tickLocked(now time.Time) {
	for id, r := range t.rooms {
		for _, s := range r.participants {
			t.accrueLocked(r.app, s, now)
		}
		for key, s := range r.viewers {
			if now.Sub(s.last) >= t.cfg.ViewerIdle {
				t.endViewerLocked(r, key, s)
			} else {
				t.accrueLocked(r.app, s, s.last)
			}
		}
		for key, n := range r.names {
			if now.Sub(n.at) > viewerNameTTL {
				delete(r.names, key)
			}
		}
		if r.session != nil {
			if !r.emptySince.IsZero() && now.Sub(r.emptySince) >= t.cfg.SessionGap {
				r.session.EndedAt = r.emptySince
				t.sessions[r.session.ID] = *r.session
				t.log.Info("usage: room session ended", "room", id, "session", r.session.ID, "peak_audience", r.session.PeakAudience)
				r.session = nil
			} else {
				// Written at every flush: its last write is when the
				// node was last alive (CloseStaleAttendance).
				t.sessions[r.session.ID] = *r.session
			}
		}
		if r.session == nil && len(r.participants)+len(r.viewers)+len(r.names) == 0 {
			delete(t.rooms, id)
		}
	}
	// A month that begins with people present has them as its peak.
	for app, a := range t.live {
		if a.participants+a.viewers == 0 {
			delete(t.live, app)
			continue
		}
		d := t.deltaLocked(app, monthKey(now))
		d.PeakParticipants = max(d.PeakParticipants, a.participants)
		d.PeakViewers = max(d.PeakViewers, a.viewers)
		d.PeakConcurrent = max(d.PeakConcurrent, a.participants+a.viewers)
	}
}

// Flush brings the counts up to now and writes what changed since the last
// flush in one transaction. What a failed flush did not write is kept for
// the next.
func (t *Tracker) Flush(ctx context.Context) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.mu.Lock()
	t.tickLocked(t.now())
	b := storage.UsageBatch{}
	for _, d := range t.deltas {
		b.Deltas = append(b.Deltas, *d)
	}
	for id := range t.identities {
		b.Identities = append(b.Identities, id)
	}
	for _, s := range t.sessions {
		b.Sessions = append(b.Sessions, s)
	}
	for _, e := range t.entries {
		b.Entries = append(b.Entries, e)
	}
	t.reset()
	t.mu.Unlock()
	if len(b.Deltas)+len(b.Identities)+len(b.Sessions)+len(b.Entries) == 0 {
		return nil
	}
	start := time.Now()
	err := t.db.SaveUsage(ctx, b)
	t.m.flushSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		return nil
	}
	t.m.flushFailures.Inc()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range b.Deltas {
		p := t.deltaLocked(d.App, d.Month)
		p.ParticipantMS += d.ParticipantMS
		p.ViewerMS += d.ViewerMS
		p.PeakParticipants = max(p.PeakParticipants, d.PeakParticipants)
		p.PeakViewers = max(p.PeakViewers, d.PeakViewers)
		p.PeakConcurrent = max(p.PeakConcurrent, d.PeakConcurrent)
	}
	for _, id := range b.Identities {
		t.identities[id] = struct{}{}
	}
	// A row changed since is newer than the one that failed.
	for _, s := range b.Sessions {
		if _, ok := t.sessions[s.ID]; !ok {
			t.sessions[s.ID] = s
		}
	}
	for _, e := range b.Entries {
		if _, ok := t.entries[e.ID]; !ok {
			t.entries[e.ID] = e
		}
	}
	return err
}
