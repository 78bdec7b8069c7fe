package cascade

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
	"lectern/internal/syncbuf"
	"lectern/sfu"
)

// TestEndClosesViewersAndStartsAfresh: End (what a fenced node calls) closes
// every edge's viewers with the reason given and the edge's pulls, and a
// later Acquire starts a new edge instead of handing out the ended one.
func TestEndClosesViewersAndStartsAfresh(t *testing.T) {
	origin, local := newSFU(t), newSFU(t)
	link := newLossyLink(t, origin.UDPAddr().(*net.UDPAddr), func([]byte) bool { return false })
	srv := whepOrigin(t, origin, link)
	edges, err := New(Config{Token: func(string, string) (string, error) { return "node", nil }, Loopback: true}, local, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edges.Close)
	room, release, err := edges.Acquire(t.Context(), "talk", srv.URL, sfu.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	viewer, err := room.Join(sfu.ParticipantOptions{Identity: "viewer", Kind: sfu.KindWHEP, Permissions: access.Subscribe})
	if err != nil {
		t.Fatal(err)
	}

	const why = "this node stopped serving: connect again"
	edges.End(why)
	select {
	case <-viewer.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the edge's viewer is still open 10 s after End")
	}
	if got := viewer.Reason(); got != why {
		t.Errorf("the viewer was closed with %q, want %q", got, why)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(edges.Rooms()) > 0 || origin.Stats().Participants > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after End: edges %v, %d pulls still at the owner", edges.Rooms(), origin.Stats().Participants)
		}
		time.Sleep(20 * time.Millisecond) // polling the edges' teardown
	}

	again, release2, err := edges.Acquire(t.Context(), "talk", srv.URL, sfu.RoomOptions{})
	if err != nil {
		t.Fatalf("Acquire after End: %v", err)
	}
	defer release2()
	v2, err := again.Join(sfu.ParticipantOptions{Identity: "viewer-2", Kind: sfu.KindWHEP, Permissions: access.Subscribe})
	if err != nil {
		t.Fatalf("joining the new edge: %v", err)
	}
	select {
	case <-v2.Done():
		t.Fatalf("the new edge's viewer was closed: %s", v2.Reason())
	default:
	}
}

// TestLowestPullRedialedWhenItNeverConnects: the owner answers the first
// pull, but nothing of its media reaches the edge until that pull's ICE has
// given up (a loaded machine can take that long): the edge pulls again
// instead of ending, so its viewer stays and the room's video arrives.
func TestLowestPullRedialedWhenItNeverConnects(t *testing.T) {
	origin, local := newSFU(t), newSFU(t)
	video, _ := publishTalk(t, origin)
	peertest.Pump(t, 5*time.Millisecond, func(i int) {
		payload := []byte{0x10, 0x01, 0, 1}
		if i%30 == 0 {
			payload = []byte{0x10, 0x00, 0x9d, 1}
		}
		video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload})
	})

	link := newLossyLink(t, origin.UDPAddr().(*net.UDPAddr), func([]byte) bool { return false })
	srv := blackholeFirst(t, whepOrigin(t, origin, link))
	logs := &syncbuf.Buffer{}
	edges, err := New(Config{Token: func(string, string) (string, error) { return "node", nil }, Loopback: true}, local,
		slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edges.Close)
	edgeRoom, release, err := edges.Acquire(t.Context(), "talk", srv.URL, sfu.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	viewer, err := edgeRoom.Join(sfu.ParticipantOptions{Identity: "viewer", Kind: sfu.KindWHEP, Permissions: access.Subscribe})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(edgeRoom.Tracks()) == 0 {
		select {
		case <-viewer.Done():
			t.Fatalf("the edge closed its viewer: %s", viewer.Reason())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no video on the edge within 20 s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the edge room
	}
	if !strings.Contains(logs.String(), "pulled again") {
		t.Errorf("the edge did not log its second pull:\n%s", logs.String())
	}
}

// blackholeFirst answers the first WHEP POST with an answer from a peer that
// is closed at once, so that the pull's connection never comes up, and
// passes every other request to origin.
func blackholeFirst(t *testing.T, origin *httptest.Server) *httptest.Server {
	target, err := url.Parse(origin.URL)
	if err != nil {
		t.Fatal(err)
	}
	pass := httputil.NewSingleHostReverseProxy(target)
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || first.Swap(true) {
			pass.ServeHTTP(w, r)
			return
		}
		offer, _ := io.ReadAll(r.Body)
		pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		answer, err := peertest.Answer(pc, string(offer))
		pc.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Location", r.URL.Path+"/blackhole")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}
