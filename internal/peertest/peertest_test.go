package peertest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTwoPeersExchangeMedia: two loopback peers, one with VP8 only,
// negotiate, connect, and what one sends arrives at the other with its payload.
func TestTwoPeersExchangeMedia(t *testing.T) {
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	sender := NewPeer(t, nil, webrtc.Configuration{})
	receiver := NewPeer(t, NewAPI(t, Options{Video: []webrtc.RTPCodecParameters{vp8}, Interceptors: NoInterceptors}), webrtc.Configuration{})
	track, _ := SendTrack(t, sender, vp8.RTPCodecCapability, "cam", "s")
	got := make(chan []byte, 64)
	ReadTracks(t, receiver, func(tr *webrtc.TrackRemote, pkt *rtp.Packet) {
		if tr.Codec().MimeType != webrtc.MimeTypeVP8 {
			t.Errorf("codec %s, want VP8", tr.Codec().MimeType)
		}
		select {
		case got <- pkt.Payload:
		default:
		}
	})
	up := Connected(sender)
	Negotiate(t, sender, receiver)
	select {
	case <-up:
	case <-time.After(30 * time.Second):
		t.Fatal("the sender did not connect within 30 s")
	}
	WaitConnected(t, receiver, 30*time.Second)
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case p := <-got:
			if len(p) != 3 || p[0] != 0x10 {
				t.Fatalf("payload %x, want 10 00 9d", p)
			}
			return
		case <-deadline:
			t.Fatal("no packet within 30 s")
		case <-tick.C:
			track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000}, Payload: []byte{0x10, 0x00, 0x9d}})
		}
	}
}

// TestImportedByTestsOnly: no program code imports peertest; test-support
// packages (hlstest) may.
func TestImportedByTestsOnly(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no go tool on PATH")
		}
		t.Skip("no go tool on PATH")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "lectern/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{"lectern/hls/hlstest": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || allowed[fields[0]] {
			continue
		}
		if slices.Contains(fields[1:], "lectern/internal/peertest") {
			t.Errorf("%s imports peertest outside its tests", fields[0])
		}
	}
}
