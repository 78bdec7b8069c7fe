package ingest

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"

	"lectern/hls/hlstest"
)

// TestPublisherGoneEndsTracksAndReaders kills the encoder: its tracks are
// unpublished and an RTSP reader's session ends.
func TestPublisherGoneEndsTracksAndReaders(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	r := newRig(t, false)
	r.out.IdleGrace = 2 * time.Second
	events := make(chan string, 16)
	room, _ := r.media.Room("live", r.roomOptions())
	cancel := room.Observe(func(ev sfuEvent) { events <- ev.Type })
	defer cancel()
	cmd, log := publishCmd(t, r.url("live", "encoder:sk_live", ""), "tcp", "libopus")
	r.pubs = append(r.pubs, cmd)
	r.waitTracks(t, "live", 2, log)

	u, _ := base.ParseURL(r.url("live", "", "token=viewer-token"))
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	readerDone := make(chan error, 1)
	go func() { readerDone <- c.Wait() }()

	r.killPublishers(t)
	unpublished := 0
	deadline := time.After(15 * time.Second)
	for unpublished < 2 {
		select {
		case typ := <-events:
			if typ == "track_unpublished" {
				unpublished++
			}
		case <-deadline:
			t.Fatalf("tracks still published after the encoder left (%d unpublished)", unpublished)
		}
	}
	// The reader stays for the grace (an encoder may come back), then its
	// session ends.
	select {
	case <-readerDone:
	case <-time.After(r.out.IdleGrace + 15*time.Second):
		t.Fatalf("the RTSP reader was not told the stream ended %v after the tracks", r.out.IdleGrace+15*time.Second)
	}
}

// TestMalformedRequestsLeaveTheServerWorking sends garbage over RTSP, then
// checks a real client still gets an answer.
func TestMalformedRequestsLeaveTheServerWorking(t *testing.T) {
	r := newRig(t, false)
	garbage := []string{
		"\x00\x01\x02\x03\r\n\r\n",
		"DESCRIBE\r\n\r\n",
		"DESCRIBE rtsp://x/live RTSP/1.0\r\nCSeq: x\r\n\r\n",
		"ANNOUNCE rtsp://127.0.0.1/live RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\nAuthorization: Basic !!!\r\n\r\nv=0\r\n",
		"ANNOUNCE rtsp://127.0.0.1/live RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 999999999\r\n\r\n",
		"SETUP rtsp://127.0.0.1/../../etc RTSP/1.0\r\nCSeq: 1\r\nTransport: garbage\r\n\r\n",
		"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n" + strings.Repeat("X-Long: "+strings.Repeat("a", 1000)+"\r\n", 200) + "\r\n",
	}
	for _, g := range garbage {
		conn, err := net.Dial("tcp", r.rtsp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(time.Second))
		conn.Write([]byte(g))
		bufio.NewReader(conn).ReadString('\n') // an answer or a close, either is fine
		conn.Close()
	}
	// The server still answers a proper request: 401 for a publisher without credentials.
	u, _ := base.ParseURL(r.url("live", "", ""))
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Options(u); err != nil {
		t.Fatalf("OPTIONS after garbage: %v", err)
	}
	if _, _, err := c.Describe(u); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("DESCRIBE without credentials: %v", err)
	}
}

var credentialSeeds = []struct{ path, query, auth string }{
	{"/live", "", ""},
	{"/live", "token=abc.def.ghi", ""},
	{"live/", "", "Basic ZW5jb2Rlcjpza19saXZl"},
	{"/Live", "", `Digest username="encoder", realm="IPCAM", nonce="x", uri="rtsp://h/live", response="y"`},
	{"/a/b", "token=%zz", "Basic !!!"},
	{"/" + strings.Repeat("a", 70), "", "Bearer x"},
	{"/live/token/abc.def.ghi", "token=x.y.z", ""},
	{"/live/token/abc.def.ghi/", "", "Basic ZW5jb2Rlcjpza19saXZl"},
	{"/live/token/", "", ""},
	{"/live/token/a/b", "", ""},
	{"//live//", "", ""},
}

func FuzzCredentialParsing(f *testing.F) {
	for _, s := range credentialSeeds {
		f.Add(s.path, s.query, s.auth)
	}
	f.Fuzz(func(t *testing.T, path, query, auth string) {
		tg, err := parseTarget(path)
		if err == nil {
			if tg.room == "" || strings.ContainsAny(tg.room, "/?#@:") || len(tg.room) > 64 || strings.Contains(tg.token, "/") {
				t.Fatalf("parseTarget(%q) = %+v", path, tg)
			}
			if back, err := parseTarget("/" + tg.path()); err != nil || back != tg {
				t.Fatalf("parseTarget(%q) = %+v, but its path %q reads back as %+v, %v", path, tg, tg.path(), back, err)
			}
		}
		req := &base.Request{Method: base.Announce, URL: &base.URL{Scheme: "rtsp", Host: "h", Path: path}, Header: base.Header{}}
		if auth != "" {
			req.Header["Authorization"] = base.HeaderValue{auth}
		}
		c := parseCredentials(req, tg.token, query)
		if c.token != "" && !c.any {
			t.Fatalf("a token without credentials: %+v", c)
		}
		if tg.token != "" && c.token != tg.token {
			t.Fatalf("path token %q not taken: %+v", tg.token, c)
		}
		if q, err := url.ParseQuery(query); err == nil && q.Get("token") != "" && tg.token == "" && c.token != q.Get("token") {
			t.Fatalf("query token %q not taken: %+v", q.Get("token"), c)
		}
	})
}
