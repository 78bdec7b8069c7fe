package usage

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the first row of an attendance report as CSV.
var CSVHeader = []string{"session_id", "room", "identity", "name", "role", "kinds", "first_joined_at",
	"last_left_at", "present_seconds", "stays", "questions_asked", "questions_answered"}

// WriteCSV writes a's attendees as CSV, one row each, times in RFC 3339
// (UTC), stays as joined/left pairs separated by spaces. Cells that a
// spreadsheet would run as a formula (names are the attendees' own) are
// prefixed with a quote.
func WriteCSV(w io.Writer, a Attendance) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, at := range a.Attendees {
		stays := make([]string, 0, len(at.Stays))
		for _, s := range at.Stays {
			stays = append(stays, stamp(&s.JoinedAt)+"/"+stamp(s.LeftAt))
		}
		row := []string{a.ID, a.Room, at.Identity, at.Name, at.Role, strings.Join(at.Kinds, " "),
			stamp(at.FirstJoinedAt), stamp(at.LastLeftAt), strconv.FormatFloat(at.PresentSeconds, 'f', 3, 64),
			strings.Join(stays, " "), strconv.Itoa(at.QuestionsAsked), strconv.Itoa(at.QuestionsAnswered)}
		for i, c := range row {
			row[i] = cell(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// stamp is t in RFC 3339 with milliseconds, "" for nil.
func stamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// cell defuses a value a spreadsheet would take for a formula (OWASP "CSV
// injection").
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
