package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"lectern/access"
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
