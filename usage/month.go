package usage

import (
	"errors"
	"fmt"
	"time"
)

// ErrMonth is a month parameter that is not a calendar month as YYYY-MM.
var ErrMonth = errors.New("month must be YYYY-MM, such as 2026-01")

// monthLayout is how a month is written in the API and the database.
const monthLayout = "2006-01"

// monthKey is the month (UTC) of t, as YYYY-MM.
func monthKey(t time.Time) string { return t.UTC().Format(monthLayout) }

// monthStart is the first instant of t's month in UTC.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// nextMonth is the first instant of the month after t's.
func nextMonth(t time.Time) time.Time { return monthStart(t).AddDate(0, 1, 0) }

// ParseMonth parses a month as YYYY-MM (years 2000 to 9999) into its first
// instant in UTC; "" is the month of now.
func ParseMonth(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return monthStart(now), nil
	}
	if len(s) != len(monthLayout) {
		return time.Time{}, fmt.Errorf("%w: got %q", ErrMonth, s)
	}
	t, err := time.Parse(monthLayout, s)
	if err != nil || t.Year() < 2000 || t.Format(monthLayout) != s {
		return time.Time{}, fmt.Errorf("%w: got %q", ErrMonth, s)
	}
	return t, nil
}
