package api

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"lectern/storage/storagetest"
)

// publishedSources lists the sources the server holds for identity in room.
func publishedSources(a *testAPI, room, identity string) []string {
	r := a.must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/participants", a.adminKey, nil)
	var out []string
	list, _ := r.body["participants"].([]any)
	for _, p := range list {
		pm, _ := p.(map[string]any)
		if pm["identity"] != identity {
			continue
		}
		tracks, _ := pm["tracks"].([]any)
		for _, tr := range tracks {
			out = append(out, fmt.Sprint(tr.(map[string]any)["source"]))
		}
	}
	slices.Sort(out)
	return out
}

// TestAudioOnlyRoomPages opens the pages of audio-only rooms in Chromium:
// the room page shows no camera or screen button and sends the microphone
// alone, with nothing refused; in the studio, a host whose member override
// allows the screen gets the screen button but still no camera button or
// camera picker, and shares the screen.
func TestAudioOnlyRoomPages(t *testing.T) {
	browserCtx := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	room := a.createRoom(map[string]any{"id": "radio", "name": "Radio hour", "media": map[string]any{"preset": "audio_only"}})

	ada := joinRoom(t, browserCtx, a, room, "Ada", desktop)
	ada.waitJS(`!document.querySelector('#mic').hidden`, "the microphone button")
	if got := ada.js(`[document.querySelector('#camera').hidden, document.querySelector('#screen').hidden]`); fmt.Sprint(got) != "[true true]" {
		t.Errorf("camera and screen buttons hidden: %v, want both hidden in an audio-only room", got)
	}
	identity := ada.js(`JSON.parse(sessionStorage.getItem('lectern.join.radio')).identity`).(string)
	var got []string
	eventually(t, 15*time.Second, "Ada's microphone on the server", func() bool {
		got = publishedSources(a, "radio", identity)
		return slices.Equal(got, []string{"microphone"})
	}, func() string { return fmt.Sprintf("Ada publishes %v", got) })
	if shown := ada.js(`document.querySelector('#problem').hidden`); shown != true {
		t.Errorf("the room page shows a problem: %v", ada.js(`document.querySelector('#problem').textContent`))
	}
	ada.checkClean()

	a.createRoom(map[string]any{"id": "talk", "name": "Audio talk", "mode": "webinar", "media": map[string]any{"preset": "audio_only"}})
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/talk/members", a.adminKey,
		map[string]any{"identity": "grace", "name": "Grace", "preset": "host", "media_sources": []string{"screen"}})
	tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{
		"identity": "grace", "rooms": map[string]any{"talk": map[string]any{}}}).str("token")
	host := openTab(t, browserCtx, a.url+"/studio/talk#token="+tok, "host", desktop)
	host.waitText("#room-title", "Audio talk")
	host.waitJS(`!document.querySelector('#screen').hidden && !document.querySelector('#mic').hidden`, "the screen and microphone buttons")
	host.waitJS(`document.querySelector('#camera-select').parentElement.hidden`, "the camera picker hidden")
	if hidden := host.js(`document.querySelector('#camera').hidden`); hidden != true {
		t.Error("the studio shows a camera button in an audio-only room")
	}
	// Once the microphone is on the server the call is up: share the screen.
	eventually(t, 15*time.Second, "the host's microphone on the server", func() bool {
		got = publishedSources(a, "talk", "grace")
		return slices.Equal(got, []string{"microphone"})
	}, func() string { return fmt.Sprintf("the host publishes %v", got) })
	host.click("#screen")
	host.waitJS(`document.querySelector('.tile-self.tile-screen video')?.videoWidth > 0`, "the host's own screen")
	eventually(t, 15*time.Second, "the host's screen and microphone on the server", func() bool {
		got = publishedSources(a, "talk", "grace")
		return slices.Equal(got, []string{"microphone", "screen"})
	}, func() string { return fmt.Sprintf("the host publishes %v", got) })
	host.checkClean()
}
