package ingest

import (
	"errors"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		path, room, token string
		err               error
	}{
		{"/live", "live", "", nil},
		{"live/", "live", "", nil},
		{"/live/token/a.b.c", "live", "a.b.c", nil},
		{"/live/token/a.b.c/", "live", "a.b.c", nil},
		{"/live/token/", "", "", ErrBadPath},
		{"/live/a.b.c", "", "", ErrBadPath},
		{"/live/token/a/b", "", "", ErrBadPath},
		{"/Live", "", "", ErrBadPath},
		{"/", "", "", ErrBadPath},
		{"/trackID=0", "", "", ErrBadPath},
	} {
		got, err := parseTarget(c.path)
		if !errors.Is(err, c.err) || got.room != c.room || got.token != c.token {
			t.Errorf("parseTarget(%q) = %+v, %v; want %q %q %v", c.path, got, err, c.room, c.token, c.err)
		}
	}
}

func TestRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"path has changed (prev: /live/token/a.b.c, cur: /live/token/x.y.z)": "path has changed (prev: /live/token/REDACTED, cur: /live/token/REDACTED)",
		"url rtsp://h/live?token=a.b.c/trackID=0&x=1":                        "url rtsp://h/live?token=REDACTED/trackID=0&x=1",
		"terminated": "terminated",
	} {
		if got := redacted(errors.New(in)); got != want {
			t.Errorf("redacted(%q) = %q, want %q", in, got, want)
		}
	}
}
