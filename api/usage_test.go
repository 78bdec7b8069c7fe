package api

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"lectern/access"
	"lectern/storage/storagetest"
	"lectern/usage"
)

// usageClock is the tracker's clock in these tests: it starts at the real
// time (chat questions carry the real time) and moves only when told to.
type usageClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *usageClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *usageClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// newUsageAPI is the test API with a usage tracker on an injected clock.
func newUsageAPI(t *testing.T, b storagetest.Backend) (*testAPI, *usage.Tracker, *usageClock) {
	t.Helper()
	clk := &usageClock{t: time.Now().UTC()}
	var tr *usage.Tracker
	a := newTestAPI(t, b, func(d *Deps) {
		cfg := usage.DefaultConfig()
		cfg.Node, cfg.Now = "test", clk.Now
		var err error
		if tr, err = usage.New(cfg, d.DB, d.Registry, d.Log); err != nil {
			t.Fatal(err)
		}
		d.Usage = tr
	})
	return a, tr, clk
}

// leave closes c's websocket, as a participant closing the page.
func (c *wsClient) leave() {
	c.closing.Store(true)
	c.conn.Close(websocket.StatusNormalClosure, "bye")
}

// waitPresent waits until the tracker counts n participants and v viewers in room.
func waitPresent(t *testing.T, tr *usage.Tracker, room string, n, v int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("%d participants and %d viewers in %s", n, v, room), func() bool {
		p, w := tr.Present(room)
		return p == n && w == v
	})
}

// attendanceOf decodes a report.
func attendanceOf(t *testing.T, r response) usage.Attendance {
	t.Helper()
	var a usage.Attendance
	if err := json.Unmarshal(r.raw, &a); err != nil {
		t.Fatalf("attendance: %v: %s", err, r.raw)
	}
	return a
}

func findAttendee(t *testing.T, a usage.Attendance, identity, role string) usage.Attendee {
	t.Helper()
	for _, at := range a.Attendees {
		if at.Identity == identity && at.Role == role {
			return at
		}
	}
	t.Fatalf("no %s %s in %+v", role, identity, a.Attendees)
	return usage.Attendee{}
}

// checkCSV fetches the report as CSV both ways and checks each row against
// the JSON report.
func checkCSV(t *testing.T, a *testAPI, path string, want usage.Attendance) {
	t.Helper()
	for _, how := range []struct{ query, accept string }{{"?format=csv", ""}, {"", "text/csv"}} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", a.url+path+how.query, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+a.adminKey)
		if how.accept != "" {
			req.Header.Set("Accept", how.accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(res.Body).ReadAll()
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("CSV %+v: %d %s, %v", how, res.StatusCode, res.Header.Get("Content-Type"), err)
		}
		if !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("CSV without a download name: %q", res.Header.Get("Content-Disposition"))
		}
		if len(rows) != len(want.Attendees)+1 || strings.Join(rows[0], ",") != strings.Join(usage.CSVHeader, ",") {
			t.Fatalf("CSV %+v: %d rows, header %v; want %d attendees", how, len(rows), rows[0], len(want.Attendees))
		}
		for i, at := range want.Attendees {
			row := rows[i+1]
			col := map[string]string{}
			for j, h := range usage.CSVHeader {
				col[h] = row[j]
			}
			joined, _ := time.Parse(time.RFC3339Nano, col["first_joined_at"])
			if col["session_id"] != want.ID || col["identity"] != at.Identity || col["name"] != at.Name || col["role"] != at.Role ||
				col["present_seconds"] != fmt.Sprintf("%.3f", at.PresentSeconds) || col["questions_asked"] != fmt.Sprint(at.QuestionsAsked) ||
				col["questions_answered"] != fmt.Sprint(at.QuestionsAnswered) ||
				(at.FirstJoinedAt != nil && !joined.Equal(*at.FirstJoinedAt)) || len(strings.Fields(col["stays"])) != len(at.Stays) {
				t.Errorf("CSV row %v does not match JSON %+v", row, at)
			}
		}
	}
}

// TestMeetingAttendanceAndUsage: two participants with real websockets and
// pion peers meet; one leaves after 2 minutes, the other after 5 (on the
// tracker's clock). The room's session, its attendance report (JSON and
// CSV), the month's usage and the Prometheus counters say so, on SQLite and
// PostgreSQL.
func TestMeetingAttendanceAndUsage(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a, tr, clk := newUsageAPI(t, b)
		a.createRoom(map[string]any{"id": "standup", "name": "Standup"})
		start := clk.Now()
		alice := dialRoom(t, a, "standup", a.sign(access.Claims{Identity: "alice", Name: "Alice Liddell",
			Rooms: map[string]access.Grant{"standup": {Permissions: access.Member}}, ExpiresAt: time.Now().Add(time.Hour)}))
		alice.next("welcome")
		bob := dialRoom(t, a, "standup", a.tokenFor("bob", "standup", access.Member))
		bob.next("welcome")
		alice.publish("camera")
		bob.waitMedia("camera")
		waitPresent(t, tr, "standup", 2, 0)

		clk.Advance(2 * time.Minute)
		bob.leave()
		waitPresent(t, tr, "standup", 1, 0)
		clk.Advance(3 * time.Minute)

		// While the session runs, it is listed live and alice is present.
		r := a.must(200, "GET", "/api/v1/rooms/standup/sessions", a.adminKey, nil)
		list := r.body["sessions"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["live"] != true {
			t.Fatalf("sessions while live: %s", r.raw)
		}
		id := list[0].(map[string]any)["id"].(string)
		live := attendanceOf(t, a.must(200, "GET", "/api/v1/rooms/standup/sessions/"+id+"/attendance", a.adminKey, nil))
		if at := findAttendee(t, live, "alice", "participant"); !at.Present || at.LastLeftAt != nil || at.PresentSeconds != 300 {
			t.Errorf("alice while present: %+v; want present for 300 s so far", at)
		}

		alice.leave()
		waitPresent(t, tr, "standup", 0, 0)
		clk.Advance(usage.DefaultConfig().SessionGap)

		path := "/api/v1/rooms/standup/sessions/" + id + "/attendance"
		rep := attendanceOf(t, a.must(200, "GET", path, a.adminKey, nil))
		if rep.Live || rep.EndedAt == nil || !rep.StartedAt.Equal(start.Truncate(time.Millisecond)) ||
			!rep.EndedAt.Equal(start.Add(5*time.Minute).Truncate(time.Millisecond)) || rep.PeakAudience != 2 || rep.Participants != 2 || rep.Broadcast {
			t.Errorf("session: %+v; want %v to +5m, peak 2, 2 participants, no broadcast", rep.Session, start)
		}
		al := findAttendee(t, rep, "alice", "participant")
		if al.Name != "Alice Liddell" || al.PresentSeconds != 300 || al.Present || len(al.Stays) != 1 || al.Kinds[0] != "browser" {
			t.Errorf("alice: %+v; want Alice Liddell, 300 s, one browser stay", al)
		}
		bo := findAttendee(t, rep, "bob", "participant")
		if bo.PresentSeconds != 120 || !bo.LastLeftAt.Equal(start.Add(2*time.Minute).Truncate(time.Millisecond)) {
			t.Errorf("bob: %+v; want 120 s, leaving at +2m", bo)
		}
		checkCSV(t, a, path, rep)

		// The month's usage: 7 participant-minutes of 2 identities, 2 at once.
		month := clk.Now().Format("2006-01")
		r = a.must(200, "GET", "/api/v1/usage?month="+month, a.adminKey, nil)
		if r.body["app"] != "default" || r.body["participant_minutes"] != 7.0 || r.body["active_identities"] != 2.0 ||
			r.body["peak_concurrent"] != 2.0 || r.body["viewer_minutes"] != 0.0 {
			t.Errorf("usage: %s", r.raw)
		}
		if r := a.must(200, "GET", "/api/v1/usage", a.adminKey, nil); r.body["month"] != month {
			t.Errorf("usage without a month: %s; want this month (%s)", r.raw, month)
		}
		for _, bad := range []string{"2026-13", "2026-1", "last", "2026-01-01", "1999-12"} {
			if r := a.do("GET", "/api/v1/usage?month="+bad, a.adminKey, nil); r.status != 400 || r.code() != codeInvalidMonth || !strings.Contains(r.str("message"), "YYYY-MM") {
				t.Errorf("month %q: %d %s; want 400 invalid_month naming YYYY-MM", bad, r.status, r.raw)
			}
		}
		host := a.tokenFor("host", "standup", access.Host)
		if r := a.do("GET", "/api/v1/usage", host, nil); r.status != 403 || r.code() != codeAdminRequired {
			t.Errorf("usage with a token: %d %s; want 403 admin_required", r.status, r.raw)
		}
		if r := a.do("GET", path, a.tokenFor("m", "standup", access.Member), nil); r.status != 403 {
			t.Errorf("attendance without moderate: %d %s; want 403", r.status, r.raw)
		}
		if r := a.do("GET", path, host, nil); r.status != 200 {
			t.Errorf("attendance for the room's moderator: %d %s", r.status, r.raw)
		}
		if r := a.do("GET", path+"?format=xml", a.adminKey, nil); r.status != 400 || r.code() != codeInvalidFormat {
			t.Errorf("format=xml: %d %s", r.status, r.raw)
		}
		if r := a.do("GET", "/api/v1/rooms/standup/sessions/SE_nope/attendance", a.adminKey, nil); r.status != 404 || r.code() != codeAttendanceNotFound {
			t.Errorf("unknown session: %d %s", r.status, r.raw)
		}
		a.createRoom(map[string]any{"id": "other", "name": "Other"})
		if r := a.do("GET", "/api/v1/rooms/other/sessions/"+id+"/attendance", a.adminKey, nil); r.status != 404 {
			t.Errorf("the session under another room: %d %s", r.status, r.raw)
		}

		metrics := string(a.must(200, "GET", "/metrics", "", nil).raw)
		for _, want := range []string{
			`lectern_usage_present_seconds_total{app="default",role="participant"} 420`,
			`lectern_usage_joins_total{app="default",role="participant"} 2`,
			`lectern_usage_room_sessions_total{app="default"} 1`,
			`lectern_usage_present{app="default",role="participant"} 0`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}
