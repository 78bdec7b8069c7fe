package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
	"lectern/internal/syncbuf"
	"lectern/program"
	"lectern/rtspout"
	"lectern/sfu"
)

// fakeAuth is a hand-written Authorizer: tokens map to grants, rooms have keys.
type fakeAuth struct {
	mu     sync.Mutex
	tokens map[string]Grant
	keys   map[string]string
}

func (a *fakeAuth) Token(_ context.Context, room, token string) (Grant, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.tokens[room+"/"+token]
	if !ok {
		return Grant{}, ErrBadCredentials
	}
	return g, nil
}

func (a *fakeAuth) StreamKey(_ context.Context, room string) (string, sfu.RoomOptions, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key, ok := a.keys[room]
	if !ok {
		return "", sfu.RoomOptions{}, ErrRoomNotFound
	}
	return key, sfu.RoomOptions{}, nil
}

// rig is an SFU and an RTSP server on loopback.
type rig struct {
	media *sfu.SFU
	progs *program.Set
	out   *rtspout.Out
	rtsp  *Server
	auth  *fakeAuth
	udp   int
	pubs  []*exec.Cmd
	logs  *syncbuf.Buffer // what the RTSP server logged, debug and above
}

type sfuEvent = sfu.Event

func (r *rig) roomOptions() sfu.RoomOptions { return sfu.RoomOptions{} }

// killPublishers kills every ffmpeg publisher the test started.
func (r *rig) killPublishers(t *testing.T) {
	t.Helper()
	for _, c := range r.pubs {
		c.Process.Kill()
	}
}

// newOut returns the programs of media's rooms and RTSP out on them, which
// the test closes when it ends.
func newOut(t *testing.T, media *sfu.SFU, log *slog.Logger) (*program.Set, *rtspout.Out) {
	progs := program.NewSet(media, log)
	out := rtspout.New(progs, log)
	t.Cleanup(func() {
		out.Close()
		progs.Close()
	})
	return progs, out
}

func newRig(t *testing.T, udp bool) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	media, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { media.Close() })
	logs := &syncbuf.Buffer{}
	// The programs, RTSP out and the RTSP server log into logs, for failure messages.
	dlog := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	progs, out := newOut(t, media, dlog)
	// Tokens with two dots look like JWTs: a Basic password of that shape is
	// taken for a token. "nokey" is a room without a stream key.
	a := &fakeAuth{
		tokens: map[string]Grant{
			"live/publisher-token":        {Identity: "enc", Name: "Encoder", Publish: true},
			"live/viewer-token":           {Identity: "viewer", Name: "Viewer", Subscribe: true},
			"live/viewer.basic.token":     {Identity: "viewer", Name: "Viewer", Subscribe: true},
			"nokey/publisher.basic.token": {Identity: "enc", Name: "Encoder", Publish: true},
			"nokey/viewer-token":          {Identity: "viewer", Name: "Viewer", Subscribe: true},
		},
		keys: map[string]string{"live": "sk_live", "nokey": ""},
	}
	r := &rig{media: media, progs: progs, out: out, auth: a, logs: logs}
	cfg := Config{Addr: "127.0.0.1:0"}
	for attempt := 0; ; attempt++ {
		if udp {
			cfg.UDPPort = 20000 + 2*rand.IntN(10000)
		}
		r.rtsp, err = New(cfg, a, media, out, dlog)
		if err == nil || !udp || attempt > 20 {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	r.udp = cfg.UDPPort
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.rtsp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("rtsp run: %v", err)
		}
	})
	return r
}

func (r *rig) url(room, userinfo, query string) string {
	u := "rtsp://"
	if userinfo != "" {
		u += userinfo + "@"
	}
	u += r.rtsp.Addr().String() + "/" + room
	if query != "" {
		u += "?" + query
	}
	return u
}

// publish starts ffmpeg sending a test pattern (and audio codec acodec) to url
// until the test ends. It returns ffmpeg's stderr for diagnosis.
func publish(t *testing.T, url, transport, acodec string) *bytes.Buffer {
	_, log := publishCmd(t, url, transport, acodec)
	return log
}

// publishCmd is publish that also returns the process.
func publishCmd(t *testing.T, url, transport, acodec string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	return publishSize(t, url, transport, acodec, "640x360")
}

// publishSize is publishCmd with pictures of size (WxH).
func publishSize(t *testing.T, url, transport, acodec, size string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	args := []string{"-hide_banner", "-loglevel", "warning", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", acodec, "-b:a", "64k", "-t", "60",
		"-f", "rtsp", "-rtsp_transport", transport, url}
	cmd := exec.Command("ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, &stderr
}

// waitTracks waits until room has n tracks.
func (r *rig) waitTracks(t *testing.T, room string, n int, ffmpegLog fmt.Stringer) []*sfu.Track {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if rm, ok := r.media.LiveRoom(room); ok && len(rm.Tracks()) >= n {
			return rm.Tracks()
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s did not get %d tracks; ffmpeg said:\n%s", room, n, ffmpegLog)
		}
		<-tick.C
	}
}

// webrtcViewer is a pion subscriber in a room that collects H.264 NAL units
// and counts Opus packets.
type webrtcViewer struct {
	pc       *webrtc.PeerConnection
	mu       sync.Mutex
	annexB   bytes.Buffer
	nalTypes map[byte]int
	order    []byte
	opus     int
	kinds    map[string]bool
	more     chan struct{}
	// maxVideo is the largest video packet received, in bytes.
	maxVideo int
	// gaps counts video packets that never came (sequence numbers skipped):
	// loss on the viewer's own UDP leg that NACKs did not repair in time.
	gaps    int
	lastSeq uint16
	seen    bool
}

func joinViewer(t *testing.T, r *rig, room string) *webrtcViewer {
	t.Helper()
	rm, err := r.media.Room(room, sfu.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := rm.Join(sfu.ParticipantOptions{Identity: "pion", Kind: sfu.KindBrowser, Permissions: access.Subscribe, AutoSubscribe: true})
	if err != nil {
		t.Fatal(err)
	}
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	v := &webrtcViewer{pc: pc, nalTypes: map[byte]int{}, kinds: map[string]bool{}, more: make(chan struct{}, 1)}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.mu.Lock()
		v.kinds[strings.ToLower(tr.Codec().MimeType)] = true
		v.mu.Unlock()
		go v.read(tr)
	})
	quit := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-quit:
				return
			case ev := <-p.Events():
				if ev.Type != sfu.EventOffer {
					continue
				}
				ans, err := peertest.Answer(pc, ev.SDP)
				if err != nil {
					t.Errorf("subscriber answer: %v", err)
					continue
				}
				if err := p.Answer(ans); err != nil {
					t.Errorf("answer: %v", err)
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(quit)
		<-ended
		p.Close("test over")
		pc.Close()
	})
	return v
}

func (v *webrtcViewer) read(tr *webrtc.TrackRemote) {
	var depack codecs.H264Packet
	isVideo := tr.Kind() == webrtc.RTPCodecTypeVideo
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		v.mu.Lock()
		if isVideo {
			if d := int16(pkt.SequenceNumber - v.lastSeq); v.seen && d > 1 {
				v.gaps += int(d) - 1
			}
			if !v.seen || int16(pkt.SequenceNumber-v.lastSeq) > 0 {
				v.lastSeq, v.seen = pkt.SequenceNumber, true
			}
			v.maxVideo = max(v.maxVideo, pkt.MarshalSize())
			if au, err := depack.Unmarshal(pkt.Payload); err == nil && len(au) > 0 {
				v.annexB.Write(au)
				for _, nal := range splitAnnexB(au) {
					v.nalTypes[nal[0]&0x1f]++
					if len(v.order) < 12 {
						v.order = append(v.order, nal[0]&0x1f)
					}
				}
			}
		} else {
			v.opus++
		}
		v.mu.Unlock()
		select {
		case v.more <- struct{}{}:
		default:
		}
	}
}

// splitAnnexB returns the NAL units of an Annex-B byte stream.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 0, 1}) {
		if len(part) > 0 {
			out = append(out, part)
		}
	}
	return out
}

// waitFor polls cond on every packet until it holds or the deadline passes.
func (v *webrtcViewer) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		v.mu.Lock()
		ok := cond()
		v.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-v.more:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// decodeFrames decodes the H.264 the viewer received with ffmpeg and returns
// the number of frames and the picture size.
// decodeFrames decodes what the viewer received; errors of the decoder fail
// the test unless lossy says that loss upstream is possible (RTSP over UDP
// has no repair: a datagram the kernel drops on a loaded machine breaks the
// picture until the next keyframe), when they are only logged.
func (v *webrtcViewer) decodeFrames(t *testing.T, lossy bool) (frames int, size string) {
	t.Helper()
	v.mu.Lock()
	data := append([]byte(nil), v.annexB.Bytes()...)
	if v.gaps > 0 {
		// The viewer's own leg lost packets: the picture breaks until the
		// next keyframe, as it would for any client.
		t.Logf("the WebRTC viewer missed %d video packets", v.gaps)
		lossy = true
	}
	v.mu.Unlock()
	path := filepath.Join(t.TempDir(), "received.h264")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe of what WebRTC received: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 && lossy {
		t.Logf("decoding what WebRTC received reported errors (loss on the way):\n%.300s", stderr.String())
	} else if stderr.Len() > 0 {
		t.Errorf("decoding what WebRTC received reported errors:\n%.600s", stderr.String())
	}
	f := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(f) != 3 {
		t.Fatalf("ffprobe said %q", out)
	}
	frames, _ = strconv.Atoi(f[2])
	return frames, f[0] + "x" + f[1]
}

// probe returns codec and size of a media file's first video stream.
func probe(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	return strings.TrimSpace(string(out))
}
