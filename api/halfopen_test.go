package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
	"lectern/storage/storagetest"
)

// TestHalfOpenWHIPSessionExpires offers a WHIP session and a WHEP session
// and never connects (the offers carry no candidates and no ICE check ever
// comes): the SFU's ICE agent gives up on them, and each session ends, its
// participant leaves the room and its URL answers 404.
func TestHalfOpenWHIPSessionExpires(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "ho", "name": "Half open"})
	var locations []string
	for _, tc := range []struct {
		endpoint string
		dir      webrtc.RTPTransceiverDirection
	}{{"/whip/ho", webrtc.RTPTransceiverDirectionSendonly}, {"/whep/ho", webrtc.RTPTransceiverDirectionRecvonly}} {
		status, header, body := httpDo(t, "POST", a.url+tc.endpoint, a.tokenFor("ghost", "ho", access.Host), typeSDP, offerOf(t, webrtc.MimeTypeVP8, tc.dir))
		if status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", tc.endpoint, status, body)
		}
		locations = append(locations, header.Get("Location"))
	}
	start := time.Now()
	eventually(t, 90*time.Second, "half-open sessions ended", func() bool {
		a.srv.whip.mu.Lock()
		defer a.srv.whip.mu.Unlock()
		return len(a.srv.whip.m) == 0
	})
	t.Logf("half-open sessions ended after %v", time.Since(start).Round(time.Second))
	if r, ok := a.media.LiveRoom("ho"); ok && len(r.Participants()) != 0 {
		t.Errorf("%d participants left in the room", len(r.Participants()))
	}
	for _, loc := range locations {
		if status, _, _ := httpDo(t, "DELETE", a.url+loc, a.tokenFor("ghost", "ho", access.Host), "", ""); status != http.StatusNotFound {
			t.Errorf("DELETE %s after it expired: %d, want 404", loc, status)
		}
	}
}

// TestHalfOpenRoomSocketPeerExpires joins two room websockets whose real pion
// peers never complete ICE: one publishes (its offer's answer is never
// applied, its peer closes), the other answers the server's subscriber offer
// and closes its peer. Their websockets stay open and answer pings, yet each
// participant ends once its connection fails, with the reason as the
// socket's close reason, and leaves the room.
func TestHalfOpenRoomSocketPeerExpires(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "hr", "name": "Half open"})
	startWHIP(t, a, "hr", a.tokenFor("enc", "hr", access.Host), webrtc.MimeTypeVP8, 1)
	a.waitTracks("hr", 2)

	pub, _, _ := socketDial(t, a, "/api/v1/rooms/hr/ws", a.tokenFor("pub", "hr", access.Host)+"&auto_subscribe=false")
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	peertest.SendTrack(t, pc, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "pub")
	writeJSON(t, pub, map[string]any{"type": "publish", "id": "1", "sdp": peertest.Offer(t, pc)})
	pc.Close() // the answer is never applied: no ICE check ever comes

	sub, _, _ := socketDial(t, a, "/api/v1/rooms/hr/ws", a.tokenFor("sub", "hr", access.Viewer))
	offer := readUntil(t, sub, "offer")
	spc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	answer, err := peertest.Answer(spc, offer["sdp"].(string))
	if err != nil {
		t.Fatal(err)
	}
	writeJSON(t, sub, map[string]any{"type": "answer", "sdp": answer})
	spc.Close()

	start := time.Now()
	ends := make(chan string, 2)
	for _, conn := range []*websocket.Conn{pub, sub} {
		go func() {
			for {
				if _, _, err := conn.Read(context.Background()); err != nil {
					var ce websocket.CloseError
					errors.As(err, &ce)
					ends <- ce.Reason
					return
				}
			}
		}()
	}
	var reasons []string
	for range 2 {
		select {
		case r := <-ends:
			reasons = append(reasons, r)
		case <-time.After(90 * time.Second):
			t.Fatalf("half-open room participants still open after 90 s (closed: %q)", reasons)
		}
	}
	t.Logf("half-open room participants ended after %v: %q", time.Since(start).Round(time.Second), reasons)
	slices.Sort(reasons)
	if want := []string{"publisher connection failed", "subscriber connection failed"}; !slices.Equal(reasons, want) {
		t.Errorf("close reasons %q, want %q", reasons, want)
	}
	if r, ok := a.media.LiveRoom("hr"); ok {
		for _, p := range r.Participants() {
			if id := p.Info().Identity; id != "enc" {
				t.Errorf("participant %s still in the room", id)
			}
		}
	}
}

// writeJSON sends v as one text frame.
func writeJSON(t *testing.T, conn *websocket.Conn, v any) {
	t.Helper()
	data, _ := json.Marshal(v)
	if err := conn.Write(t.Context(), websocket.MessageText, data); err != nil {
		t.Fatal(err)
	}
}

// readUntil reads frames until one of type typ, which it returns.
func readUntil(t *testing.T, conn *websocket.Conn, typ string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		var m map[string]any
		if json.Unmarshal(data, &m) == nil && m["type"] == typ {
			return m
		}
	}
}
