package usage

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"
)

// TestWriteCSV: one row per attendee under the header, times in RFC 3339,
// and a display name that a spreadsheet would run as a formula defused.
func TestWriteCSV(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	left := t0.Add(90 * time.Second)
	a := Attendance{Session: Session{ID: "SE_1", Room: "r"}, Attendees: []Attendee{
		{Identity: "mal", Name: `=HYPERLINK("http://evil","x")`, Role: "participant", Kinds: []string{"browser", "whip"},
			FirstJoinedAt: &t0, LastLeftAt: &left, PresentSeconds: 90, QuestionsAsked: 2, QuestionsAnswered: 1,
			Stays: []Stay{{JoinedAt: t0, LeftAt: &left}}},
		{Identity: "-x", Name: "Zoë, \"the\" viewer", Role: "viewer", Kinds: []string{"hls"}, FirstJoinedAt: &t0, Present: true,
			Stays: []Stay{{JoinedAt: t0}}},
	}}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, a); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	want := [][]string{
		CSVHeader,
		{"SE_1", "r", "mal", `'=HYPERLINK("http://evil","x")`, "participant", "browser whip", "2026-04-01T09:00:00.000Z",
			"2026-04-01T09:01:30.000Z", "90.000", "2026-04-01T09:00:00.000Z/2026-04-01T09:01:30.000Z", "2", "1"},
		{"SE_1", "r", "'-x", "Zoë, \"the\" viewer", "viewer", "hls", "2026-04-01T09:00:00.000Z", "", "0.000", "2026-04-01T09:00:00.000Z/", "0", "0"},
	}
	for i := range want {
		for j := range want[i] {
			if rows[i][j] != want[i][j] {
				t.Errorf("row %d column %s = %q, want %q", i, CSVHeader[j], rows[i][j], want[i][j])
			}
		}
	}
}

// TestUnion: overlapping and touching stays count once, gaps do not count.
func TestUnion(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	for _, c := range []struct {
		spans [][2]time.Time
		want  time.Duration
	}{
		{nil, 0},
		{[][2]time.Time{{at(0), at(10)}}, 10 * time.Second},
		{[][2]time.Time{{at(20), at(30)}, {at(0), at(10)}}, 20 * time.Second},
		{[][2]time.Time{{at(0), at(10)}, {at(5), at(15)}, {at(15), at(20)}}, 20 * time.Second},
		{[][2]time.Time{{at(0), at(30)}, {at(5), at(10)}}, 30 * time.Second},
	} {
		if got := union(c.spans); got != c.want {
			t.Errorf("union(%v) = %v, want %v", c.spans, got, c.want)
		}
	}
}
