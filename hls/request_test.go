package hls

import (
	"errors"
	"strings"
	"testing"
	"time"

	"lectern/program"
)

var directiveCases = []struct {
	query string
	want  directives
	bad   bool
}{
	{"", directives{part: -1}, false},
	{"token=x", directives{part: -1}, false},
	{"_HLS_msn=12", directives{block: true, msn: 12, part: -1}, false},
	{"_HLS_msn=12&_HLS_part=3", directives{block: true, msn: 12, part: 3}, false},
	{"_HLS_part=3&_HLS_msn=0", directives{block: true, msn: 0, part: 3}, false},
	{"_HLS_msn=007", directives{block: true, msn: 7, part: -1}, false},
	{"_HLS_skip=YES", directives{part: -1}, false},
	{"_HLS_msn=18446744073709551615", directives{block: true, msn: 1<<64 - 1, part: -1}, false},
	{"_HLS_part=3", directives{}, true},
	{"_HLS_msn=-1", directives{}, true},
	{"_HLS_msn=+1", directives{}, true},
	{"_HLS_msn=1.5", directives{}, true},
	{"_HLS_msn=", directives{}, true},
	{"_HLS_msn=18446744073709551616", directives{}, true},
	{"_HLS_msn=1&_HLS_msn=2", directives{}, true},
	{"_HLS_msn=1&_HLS_part=1001", directives{}, true},
	{"_HLS_msn=1&_HLS_part=x", directives{}, true},
	{"_HLS_msn=%zz", directives{}, true},
}

func TestParseDirectives(t *testing.T) {
	for _, c := range directiveCases {
		got, err := parseDirectives(c.query)
		if c.bad {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("%q: %+v, %v; want a bad request", c.query, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.query, got, err, c.want)
		}
	}
}

func FuzzParseDirectives(f *testing.F) {
	for _, c := range directiveCases {
		f.Add(c.query)
	}
	f.Fuzz(func(t *testing.T, q string) {
		d, err := parseDirectives(q)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("%q: error %v is not a bad request", q, err)
			}
			return
		}
		if !d.block && d.part != -1 || d.part > maxPartIndex {
			t.Fatalf("%q: %+v", q, d)
		}
	})
}

var resourceCases = []struct {
	name string
	want resource
	bad  bool
}{
	{"v0.m3u8", resource{kind: resPlaylist}, false},
	{"v2.m3u8", resource{kind: resPlaylist, rendition: 2}, false},
	{"v1-i3.mp4", resource{kind: resInit, rendition: 1, n: 3}, false},
	{"v0-12.m4s", resource{kind: resSegment, n: 12}, false},
	{"v0-p124.m4s", resource{kind: resPart, n: 124}, false},
	{"v2-p0.m4s", resource{kind: resPart, rendition: 2}, false},
	{"v0-p18446744073709551615.m4s", resource{kind: resPart, n: 1<<64 - 1}, false},
	{"v3.m3u8", resource{}, true},
	{"index.m3u8", resource{}, true},
	{"v0-012.m4s", resource{}, true},
	{"v0-12.4.m4s", resource{}, true},
	{"v0-p04.m4s", resource{}, true},
	{"v0-p.m4s", resource{}, true},
	{"v0-p-1.m4s", resource{}, true},
	{"v0-pp1.m4s", resource{}, true},
	{"v0--1.m4s", resource{}, true},
	{"v0-i.mp4", resource{}, true},
	{"v0-1.m4", resource{}, true},
	{"v0-99999999999999999999999.m4s", resource{}, true},
	{"v", resource{}, true},
	{"", resource{}, true},
}

func TestParseResource(t *testing.T) {
	for _, c := range resourceCases {
		got, err := parseResource(c.name)
		if c.bad {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%q: %+v, %v; want not found", c.name, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

func FuzzParseResource(f *testing.F) {
	for _, c := range resourceCases {
		f.Add(c.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		r, err := parseResource(name)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("%q: %v", name, err)
			}
			return
		}
		if r.rendition < 0 || r.rendition >= program.MaxRenditions {
			t.Fatalf("%q: %+v", name, r)
		}
		// Names are canonical: the parsed name is the only spelling.
		if back := r.String(); back != name {
			t.Fatalf("%q parses to %+v, which is named %q", name, r, back)
		}
	})
}

func TestSessions(t *testing.T) {
	s := newSessionSigner([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Unix(1_800_000_000, 0)
	exp := expiry(now, time.Hour, time.Time{})
	if exp.Before(now.Add(time.Hour)) || exp.After(now.Add(time.Hour+sessionQuantum)) {
		t.Errorf("expiry %v for now %v", exp, now)
	}
	if other := expiry(now.Add(time.Minute), time.Hour, time.Time{}); !other.Equal(exp) && other.Sub(exp) != sessionQuantum {
		t.Errorf("viewers a minute apart get expiries %v and %v", exp, other)
	}
	if short := expiry(now, time.Hour, now.Add(10*time.Minute)); !short.Equal(now.Add(10 * time.Minute)) {
		t.Errorf("a token ending in 10 min got a session until %v", short)
	}
	tok := s.sign("room", exp)
	if err := s.check("room", tok, now); err != nil {
		t.Fatalf("fresh session: %v", err)
	}
	for _, c := range []struct {
		room, tok string
		at        time.Time
	}{
		{"other", tok, now},
		{"room", tok, exp},
		{"room", tok[:len(tok)-1] + "A", now},
		{"room", "", now},
		{"room", strings.Repeat("A", len(tok)), now},
		{"room", tok + "A", now},
	} {
		if err := s.check(c.room, c.tok, c.at); !errors.Is(err, ErrSession) {
			t.Errorf("session %q for %q at %v: %v, want refused", c.tok, c.room, c.at, err)
		}
	}
	if err := newSessionSigner([]byte("another key 0123456789abcdef")).check("room", tok, now); err == nil {
		t.Error("another server's key accepted the session")
	}
}

func FuzzSession(f *testing.F) {
	s := newSessionSigner([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Unix(1_800_000_000, 0)
	f.Add("room", s.sign("room", now.Add(time.Hour)))
	f.Add("room", "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("r", "!!!!")
	f.Fuzz(func(t *testing.T, room, tok string) {
		if s.check(room, tok, now) == nil && tok != s.sign(room, now.Add(time.Hour)) {
			t.Fatalf("accepted a session it did not sign: %q for %q", tok, room)
		}
	})
}
