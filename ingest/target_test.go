package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
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

// TestDescribeNamesTracksAbsolutely checks the control URLs of a description
// for each request form: absolute, so that resolving them against the
// Content-Base (RFC 3986) keeps room and token, and without user info.
func TestDescribeNamesTracksAbsolutely(t *testing.T) {
	desc := &description.Session{Title: "Lectern live", Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}},
	}}
	for _, c := range []struct{ request, path, query, want string }{
		{"rtsp://h:8554/live?token=a.b.c", "/live", "token=a.b.c", "rtsp://h:8554/live/trackID=1?token=a.b.c"},
		{"rtsp://h:8554/live/token/a.b.c/", "/live/token/a.b.c", "", "rtsp://h:8554/live/token/a.b.c/trackID=1"},
		{"rtsp://u:p@h:8554/live", "/live", "", "rtsp://h:8554/live/trackID=1"},
	} {
		u, err := base.ParseURL(c.request)
		if err != nil {
			t.Fatal(err)
		}
		body, err := describe(desc, u, c.path, c.query)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "a=control:"+c.want+"\r\n") || !strings.Contains(string(body), "trackID=0") {
			t.Errorf("%s: description\n%s\nwants a=control:%s", c.request, body, c.want)
		}
	}
}
