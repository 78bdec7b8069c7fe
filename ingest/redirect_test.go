package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"lectern/cluster"
	"lectern/hls/hlstest"
	"lectern/sfu"
	"lectern/storage"
	"lectern/storage/storagetest"
)

// newClusterRig is a rig whose RTSP server belongs to a cluster node over the
// database at databaseURL.
func newClusterRig(t *testing.T, databaseURL, id string) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := storagetest.Open(t, storagetest.Backend{Name: "postgres", DatabaseURL: databaseURL, DataDir: t.TempDir()})
	media, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { media.Close() })
	a := &fakeAuth{
		tokens: map[string]Grant{"live/viewer-token": {Identity: "viewer", Name: "Viewer", Subscribe: true}},
		keys:   map[string]string{"live": "sk_live"},
	}
	progs, out := newOut(t, media, log)
	r := &rig{media: media, progs: progs, auth: a}
	if r.rtsp, err = New(Config{Addr: "127.0.0.1:0"}, a, media, out, log); err != nil {
		t.Fatal(err)
	}
	node, err := cluster.New(cluster.Config{NodeID: id, URL: "http://" + id + ".invalid", RTSPURL: "rtsp://" + r.rtsp.Addr().String(),
		Interval: time.Second}, db, func() cluster.Load { return cluster.Load{} },
		func(room string) bool { _, ok := media.LiveRoom(room); return ok }, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.rtsp.Placer = node.RTSP()
	ctx, cancel := context.WithCancel(context.Background())
	done, beating := make(chan error, 1), make(chan error, 1)
	go func() { done <- r.rtsp.Run(ctx) }()
	go func() { beating <- node.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := errors.Join(<-done, <-beating); err != nil {
			t.Errorf("rtsp run: %v", err)
		}
	})
	return r
}

// TestRTSPRedirectsToTheRoomsNode publishes into a room through node 1 and
// plays it through node 2, which answers DESCRIBE with 302 to node 1 (ffmpeg
// follows it); an ANNOUNCE through node 2 gets 302 to node 1 as well.
func TestRTSPRedirectsToTheRoomsNode(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	dbURL := storagetest.PostgresURL(t)
	r1 := newClusterRig(t, dbURL, "node-1")
	r2 := newClusterRig(t, dbURL, "node-2")
	db := storagetest.Open(t, storagetest.Backend{Name: "postgres", DatabaseURL: dbURL, DataDir: t.TempDir()})
	for _, id := range []string{"live", "other"} {
		if _, err := db.CreateRoom(t.Context(), storage.Room{ID: id, Name: id, Mode: "conference", Tier: "hd", PIN: "1", SpeakerPIN: "2"}); err != nil {
			t.Fatal(err)
		}
	}

	// Both nodes are idle: the encoder's ANNOUNCE through node 1 places the room there.
	log := publish(t, r1.url("live", "encoder:sk_live", ""), "tcp", "libopus")
	r1.waitTracks(t, "live", 2, log)

	out := filepath.Join(t.TempDir(), "read.mp4")
	read := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
		"-i", r2.url("live", "", "token=viewer-token"), "-t", "2", "-c", "copy", "-y", out)
	if msg, err := read.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg read through node 2: %v\n%s", err, msg)
	}
	if got := probe(t, out); got != "h264,640,360" {
		t.Errorf("read through node 2: %q, want h264,640,360", got)
	}
	// The token in the path goes with the redirect.
	if n, msg, err := ffmpegPlay(t, r2.url("live/token/viewer-token", "", ""), "tcp", 10); err != nil || n < 10 {
		t.Fatalf("ffmpeg read through node 2 with the token in the path: %d frames, %v\n%s", n, err, msg)
	}
	if _, ok := r2.media.LiveRoom("live"); ok {
		t.Error("node 2 served the room itself")
	}

	// An encoder announcing through node 2 is sent to node 1. (ffmpeg does not
	// follow redirects of ANNOUNCE, so this speaks RTSP itself.)
	status, location := announce(t, r2.rtsp.Addr().String(), "live")
	if want := "rtsp://" + r1.rtsp.Addr().String() + "/live"; status != "RTSP/1.0 302 Found" || location != want {
		t.Errorf("ANNOUNCE through node 2: %q, Location %q; want 302 to %s", status, location, want)
	}
	// A room no node holds goes to the node the encoder reached, though node 1
	// is the busier one: ffmpeg could not follow a redirect. (No credentials: 401.)
	if status, location := announce(t, r1.rtsp.Addr().String(), "other"); status != "RTSP/1.0 401 Unauthorized" {
		t.Errorf("ANNOUNCE of a new room through node 1: %q, Location %q; want it served there", status, location)
	}
	if p, err := db.RoomPlacement(t.Context(), "other", time.Minute); err != nil || p.Node.ID != "node-1" {
		t.Errorf("new room announced through node 1: placed %+v, %v", p, err)
	}
}

// announce sends one ANNOUNCE with a minimal H.264 description over a plain
// connection and returns the status line and the Location header.
func announce(t *testing.T, addr, room string) (status, location string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"
	fmt.Fprintf(conn, "ANNOUNCE rtsp://%s/%s RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		addr, room, len(sdp), sdp)
	tp := textproto.NewReader(bufio.NewReader(conn))
	status, err = tp.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	return status, h.Get("Location")
}
