package usage

import (
	"context"
	"math"
	"slices"
	"time"

	"lectern/storage"
)

// maxSessions bounds the sessions one listing returns (newest first).
const maxSessions = 500

// Report is an app's usage in one calendar month (UTC).
type Report struct {
	App   string    `json:"app"`
	Month string    `json:"month"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	// ActiveIdentities: distinct identities that connected (participants,
	// and HLS viewers whose token named them).
	ActiveIdentities int64 `json:"active_identities"`
	// ParticipantMinutes: the time of every participant (WebRTC browser,
	// WHIP, WHEP, RTSP encoder), summed.
	ParticipantMinutes float64 `json:"participant_minutes"`
	// ViewerMinutes: the time of every HLS viewer, from its first to its
	// last media playlist request, summed.
	ViewerMinutes float64 `json:"viewer_minutes"`
	// Recordings that completed in the month: how many, minutes and bytes.
	Recordings       int64   `json:"recordings"`
	RecordingMinutes float64 `json:"recording_minutes"`
	RecordingBytes   int64   `json:"recording_bytes"`
	// RecordingBytesStored: every recording of the app stored now.
	RecordingBytesStored int64 `json:"recording_bytes_stored"`
	// The peaks: each node's highest number present at once in the month,
	// summed over the nodes that counted (exact on one node; an upper
	// bound on several).
	PeakConcurrent   int64 `json:"peak_concurrent"`
	PeakParticipants int64 `json:"peak_participants"`
	PeakViewers      int64 `json:"peak_viewers"`
	Nodes            int   `json:"nodes"`
}

// minutes rounds a duration in milliseconds to hundredths of a minute.
func minutes(ms int64) float64 { return math.Round(float64(ms)/600) / 100 }

// Usage returns app's usage in the month that begins at month, as every
// node wrote it (call Flush first to include this node's latest).
func (t *Tracker) Usage(ctx context.Context, app string, month time.Time) (Report, error) {
	from, to := monthStart(month), nextMonth(month)
	u, err := t.db.Usage(ctx, app, monthKey(from))
	if err != nil {
		return Report{}, err
	}
	rec, err := t.db.RecordingUsage(ctx, func(room string) bool { return AppOf(room) == app }, from, to)
	if err != nil {
		return Report{}, err
	}
	return Report{
		App: app, Month: monthKey(from), From: from, To: to,
		ActiveIdentities:   u.ActiveIdentities,
		ParticipantMinutes: minutes(u.ParticipantMS), ViewerMinutes: minutes(u.ViewerMS),
		Recordings: rec.Count, RecordingMinutes: minutes(rec.Duration.Milliseconds()), RecordingBytes: rec.Bytes,
		RecordingBytesStored: rec.StoredBytes,
		PeakConcurrent:       u.PeakConcurrent, PeakParticipants: u.PeakParticipants, PeakViewers: u.PeakViewers,
		Nodes: u.Nodes,
	}, nil
}

// Session is one session of a room, as listed.
type Session struct {
	ID        string     `json:"id"`
	Room      string     `json:"room"`
	App       string     `json:"app"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"`
	// Live: the session has not ended (or its node has not written its
	// end yet).
	Live            bool    `json:"live"`
	DurationSeconds float64 `json:"duration_seconds"`
	PeakAudience    int     `json:"peak_audience"`
	Broadcast       bool    `json:"broadcast"`
}

func sessionOf(s storage.AttendanceSession, now time.Time) Session {
	out := Session{ID: s.ID, Room: s.RoomID, App: s.App, StartedAt: s.StartedAt, PeakAudience: s.PeakAudience, Broadcast: s.Broadcast}
	end := now
	if !s.EndedAt.IsZero() {
		e := s.EndedAt
		out.EndedAt, end = &e, e
	} else {
		out.Live = true
	}
	out.DurationSeconds = seconds(end.Sub(s.StartedAt))
	return out
}

func seconds(d time.Duration) float64 { return math.Round(max(d, 0).Seconds()*1000) / 1000 }

// Sessions lists room's sessions, newest first (at most 500).
func (t *Tracker) Sessions(ctx context.Context, room string) ([]Session, error) {
	rows, err := t.db.AttendanceSessions(ctx, room, maxSessions)
	if err != nil {
		return nil, err
	}
	now := t.now()
	out := make([]Session, 0, len(rows))
	for _, s := range rows {
		out = append(out, sessionOf(s, now))
	}
	return out, nil
}

// Attendance is a session's report.
type Attendance struct {
	Session
	Participants      int        `json:"participants"`
	Viewers           int        `json:"viewers"`
	QuestionsAsked    int        `json:"questions_asked"`
	QuestionsAnswered int        `json:"questions_answered"`
	Attendees         []Attendee `json:"attendees"`
}

// Attendee is one identity in one role in a session: every stay it had,
// the time it was present (overlapping stays counted once) and the chat
// questions it asked during the session.
type Attendee struct {
	Identity          string     `json:"identity"`
	Name              string     `json:"name"`
	Role              string     `json:"role"`
	Kinds             []string   `json:"kinds"`
	FirstJoinedAt     *time.Time `json:"first_joined_at"`
	LastLeftAt        *time.Time `json:"last_left_at"`
	Present           bool       `json:"present"`
	PresentSeconds    float64    `json:"present_seconds"`
	QuestionsAsked    int        `json:"questions_asked"`
	QuestionsAnswered int        `json:"questions_answered"`
	Stays             []Stay     `json:"stays"`
}

// Stay is one join and leave; LeftAt is null while present.
type Stay struct {
	JoinedAt time.Time  `json:"joined_at"`
	LeftAt   *time.Time `json:"left_at"`
	Kind     string     `json:"kind"`
}

// RoleChat is an attendee who asked questions in the session's chat but
// neither joined the room nor watched its HLS in it.
const RoleChat = "chat"

// Attendance returns the report of room's session id (storage.ErrNotFound
// if the room has none by that ID).
func (t *Tracker) Attendance(ctx context.Context, room, id string) (Attendance, error) {
	s, err := t.db.AttendanceSession(ctx, room, id)
	if err != nil {
		return Attendance{}, err
	}
	entries, err := t.db.AttendanceEntries(ctx, id)
	if err != nil {
		return Attendance{}, err
	}
	qs, err := t.db.QuestionCounts(ctx, room, s.StartedAt, s.EndedAt)
	if err != nil {
		return Attendance{}, err
	}
	now := t.now()
	a := Attendance{Session: sessionOf(s, now), Attendees: []Attendee{}}
	end := now
	if !s.EndedAt.IsZero() {
		end = s.EndedAt
	}
	type key struct{ identity, role string }
	byKey := map[key]*Attendee{}
	var order []key
	spans := map[key][][2]time.Time{}
	for _, e := range entries {
		k := key{e.Identity, e.Role}
		at := byKey[k]
		if at == nil {
			at = &Attendee{Identity: e.Identity, Role: e.Role, Kinds: []string{}}
			byKey[k] = at
			order = append(order, k)
		}
		if e.Name != "" {
			at.Name = e.Name
		}
		if !slices.Contains(at.Kinds, e.Kind) {
			at.Kinds = append(at.Kinds, e.Kind)
		}
		st := Stay{JoinedAt: e.JoinedAt, Kind: e.Kind}
		left := end
		if !e.LeftAt.IsZero() {
			l := e.LeftAt
			st.LeftAt, left = &l, l
		} else {
			at.Present = s.EndedAt.IsZero()
		}
		at.Stays = append(at.Stays, st)
		spans[k] = append(spans[k], [2]time.Time{e.JoinedAt, left})
	}
	// Questions go to the identity's participant row, else its viewer row,
	// else a chat row of their own.
	for who, q := range qs {
		at := byKey[key{who, storage.RoleParticipant}]
		if at == nil {
			at = byKey[key{who, storage.RoleViewer}]
		}
		if at == nil {
			k := key{who, RoleChat}
			at = &Attendee{Identity: who, Role: RoleChat, Kinds: []string{}, Stays: []Stay{}}
			byKey[k] = at
			order = append(order, k)
		}
		at.QuestionsAsked, at.QuestionsAnswered = q.Asked, q.Answered
		a.QuestionsAsked += q.Asked
		a.QuestionsAnswered += q.Answered
	}
	for _, k := range order {
		at := byKey[k]
		if sp := spans[k]; len(sp) > 0 {
			first, last := firstLast(sp)
			at.FirstJoinedAt = &first
			if !at.Present {
				at.LastLeftAt = &last
			}
			at.PresentSeconds = seconds(union(sp))
		}
		switch k.role {
		case storage.RoleParticipant:
			a.Participants++
		case storage.RoleViewer:
			a.Viewers++
		}
		a.Attendees = append(a.Attendees, *at)
	}
	return a, nil
}

func firstLast(sp [][2]time.Time) (first, last time.Time) {
	first, last = sp[0][0], sp[0][1]
	for _, s := range sp[1:] {
		if s[0].Before(first) {
			first = s[0]
		}
		if s[1].After(last) {
			last = s[1]
		}
	}
	return first, last
}

// union is the time covered by the spans, overlaps counted once.
func union(sp [][2]time.Time) time.Duration {
	sp = slices.Clone(sp)
	slices.SortFunc(sp, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var total time.Duration
	var cur [2]time.Time
	for i, s := range sp {
		switch {
		case i == 0:
			cur = s
		case !s[0].After(cur[1]):
			if s[1].After(cur[1]) {
				cur[1] = s[1]
			}
		default:
			total += max(cur[1].Sub(cur[0]), 0)
			cur = s
		}
	}
	if len(sp) > 0 {
		total += max(cur[1].Sub(cur[0]), 0)
	}
	return total
}
