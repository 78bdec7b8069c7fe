package ingest

import (
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"
)

func relayServer() *Server {
	return &Server{RelaySecret: []byte("0123456789abcdef0123456789abcdef"), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// TestRelayMark: a mark made for a room is accepted for that room only, for a
// minute; a mark of another secret, a tampered or a stale one is refused, and
// without a secret nothing is relayed.
func TestRelayMark(t *testing.T) {
	s := relayServer()
	now := time.Now()
	good := url.Values{relayParam: {relayMark(s.RelaySecret, "show", now)}, "token": {"x"}}.Encode()
	if !s.relayed("show", good) {
		t.Fatal("a fresh mark was refused")
	}
	for name, q := range map[string]string{
		"another room":    good,
		"other secret":    url.Values{relayParam: {relayMark([]byte("another secret of 32 bytes......"), "show", now)}}.Encode(),
		"stale":           url.Values{relayParam: {relayMark(s.RelaySecret, "show", now.Add(-2*time.Minute))}}.Encode(),
		"from the future": url.Values{relayParam: {relayMark(s.RelaySecret, "show", now.Add(2*time.Minute))}}.Encode(),
		"tampered":        strings.Replace(good, relayParam+"=", relayParam+"=1", 1),
		"none":            "token=x",
		"garbled":         relayParam + "=%zz",
	} {
		room := "show"
		if name == "another room" {
			room = "other"
		}
		if s.relayed(room, q) {
			t.Errorf("%s: accepted", name)
		}
	}
	s.RelaySecret = nil
	if s.relayed("show", good) {
		t.Error("a mark was accepted without a secret")
	}
}

// TestRelayTarget: the relay keeps the path and a token where the encoder
// put it, moves a Basic token to the query, sends a stream key as the user
// info, and marks the request.
func TestRelayTarget(t *testing.T) {
	s := relayServer()
	for _, tc := range []struct {
		t     target
		query string
		c     credentials
		key   string
		want  string // substring
		user  string
	}{
		{target{room: "show"}, "", credentials{}, "sk_1", "rtsp://encoder:sk_1@b:8554/show?", "encoder"},
		{target{room: "show"}, "token=tk", credentials{token: "tk"}, "", "token=tk", ""},
		{target{room: "show"}, "", credentials{token: "tk"}, "", "token=tk", ""},
		{target{room: "show", token: "tk"}, "", credentials{token: "tk"}, "", "/show/token/tk?", ""},
	} {
		got, err := s.relayTarget("rtsp://b:8554", tc.t, tc.query, tc.c, tc.key)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(got)
		if !strings.Contains(got, tc.want) || u.User.Username() != tc.user || !s.relayed("show", u.RawQuery) {
			t.Errorf("%+v: %q", tc, got)
		}
	}
	if _, err := s.relayTarget("rtsp://b:8554", target{room: "show"}, "", credentials{}, ""); err == nil {
		t.Error("a relay without a credential")
	}
}

// FuzzRelayMark: no query an outsider sends is taken for a relay mark.
func FuzzRelayMark(f *testing.F) {
	s := relayServer()
	f.Add("show", relayParam+"=1.00")
	f.Add("show", relayParam+"="+relayMark([]byte("guess"), "show", time.Now()))
	f.Add("x", "a=b&"+relayParam+"=")
	f.Fuzz(func(t *testing.T, room, query string) {
		if s.relayed(room, query) {
			t.Fatalf("accepted %q for %q", query, room)
		}
	})
}
