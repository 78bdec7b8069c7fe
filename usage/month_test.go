package usage

import (
	"errors"
	"testing"
	"time"
)

var monthCases = []struct {
	in   string
	want string // "" for an error
}{
	{"2026-01", "2026-01"},
	{"2026-12", "2026-12"},
	{"", "2026-07"},
	{"2026-13", ""},
	{"2026-00", ""},
	{"2026-1", ""},
	{"26-01", ""},
	{"2026-01-01", ""},
	{"1999-12", ""},
	{"2026/01", ""},
	{"２026-01", ""},
	{"-001-01", ""},
	{"2026-0a", ""},
}

func TestParseMonth(t *testing.T) {
	now := time.Date(2026, 7, 14, 23, 59, 0, 0, time.FixedZone("X", -5*3600)) // 2026-07-15 in UTC
	for _, c := range monthCases {
		got, err := ParseMonth(c.in, now)
		if c.want == "" {
			if !errors.Is(err, ErrMonth) {
				t.Errorf("ParseMonth(%q) = %v, %v; want ErrMonth", c.in, got, err)
			}
			continue
		}
		if err != nil || monthKey(got) != c.want || got != monthStart(got) {
			t.Errorf("ParseMonth(%q) = %v, %v; want the start of %s", c.in, got, err, c.want)
		}
	}
}

func FuzzParseMonth(f *testing.F) {
	for _, c := range monthCases {
		f.Add(c.in)
	}
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseMonth(s, now)
		if err != nil {
			if !errors.Is(err, ErrMonth) {
				t.Fatalf("ParseMonth(%q): %v is not ErrMonth", s, err)
			}
			return
		}
		if s != "" && monthKey(got) != s {
			t.Fatalf("ParseMonth(%q) = %v, which writes back as %s", s, got, monthKey(got))
		}
		if got != monthStart(got) || got.Location() != time.UTC {
			t.Fatalf("ParseMonth(%q) = %v: not the start of a month in UTC", s, got)
		}
	})
}
