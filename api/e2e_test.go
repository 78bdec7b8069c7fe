package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebinarEndToEnd is one webinar from start to finish, through the pages
// only: an admin creates the room in /admin; the host joins /studio with the
// speaker PIN, publishes camera and screen and goes live; a co-presenter on a
// studio link from the console sees the host's video; a viewer who joined
// with the audience PIN watches over LL-HLS and asks a question, which reaches
// the studio's Q&A queue and, approved there, the viewer's page; the host
// records a while, and the recording plays in /admin.
func TestWebinarEndToEnd(t *testing.T) {
	browser := startChromium(t)
	a := adminRecordingsAPI(t)

	// The admin creates a webinar room with the live stream and questions on.
	admin := openTab(t, browser, a.url+"/admin", "admin", desktop)
	admin.expectHTTPError("/api/v1/rooms/townhall/stream-key") // none yet: the card says so
	admin.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	admin.fill("#admin-key", a.adminKey)
	admin.click("#signin-form button[type=submit]")
	admin.waitText("#rooms-list", "No rooms yet")
	admin.click("#new-room")
	admin.fill("#room-name", "Town hall")
	admin.fill("#room-id", "townhall")
	admin.click(`#room-form input[name=mode][value=webinar]`)
	admin.click("#room-hls")
	admin.click("#room-questions")
	admin.click("#room-submit")
	admin.waitText("#room-title", "Town hall")
	room := a.must(http.StatusOK, "GET", "/api/v1/rooms/townhall", a.adminKey, nil)
	if room.str("mode") != "webinar" || room.body["broadcast"].(map[string]any)["hls"] != true || room.body["chat"].(map[string]any)["questions"] != true {
		t.Fatalf("the console created %s", room.raw)
	}

	// The console shows the speaker PIN the admin hands to the host.
	admin.waitJS(fmt.Sprintf(`document.querySelector('#speaker_pin-value')?.dataset.pin === %q`, room.str("speaker_pin")), "the speaker PIN in the console")

	// The host joins the studio with the speaker PIN, publishes camera and
	// screen, and the broadcast goes live.
	host := openTab(t, browser, a.url+"/?room=townhall", "host", desktop)
	host.fill("#pin", room.str("speaker_pin"))
	host.fill("#name", "Hedy Lamarr")
	host.click("#join-submit")
	host.waitText("#enter", "Enter the studio")
	host.click("#enter")
	host.waitPath("/studio/townhall")
	host.waitText("#room-title", "Town hall")
	host.waitJS(`document.querySelector('.tile-self.tile-camera video')?.videoWidth > 0`, "the host's own camera")
	host.click("#screen")
	host.waitJS(`document.querySelector('.tile-self.tile-screen video')?.videoWidth > 0`, "the host's own screen")
	hostID := host.js(`document.querySelector('.tile-self').dataset.participant`).(string)
	host.waitLong(`document.querySelector('#air-badge').dataset.state === 'live'`, "the broadcast live", 30*time.Second)

	// A co-presenter who should not moderate gets a studio link with the
	// speaker preset from the console, and sees the host's camera and screen.
	admin.fill("#token-identity", "linus")
	admin.fill("#token-name", "Linus")
	admin.js(`document.querySelector('#token-preset').value = 'speaker'`)
	admin.click("#token-form button[type=submit]")
	admin.waitJS(`!!document.querySelector('#token-link')`, "the studio link")
	link := admin.js(`document.querySelector('#token-link').href`).(string)
	if want := a.url + "/studio/townhall#token="; len(link) < len(want) || link[:len(want)] != want {
		t.Fatalf("co-presenter link %q", link)
	}
	speaker := openTab(t, browser, link, "speaker", desktop)
	speaker.waitText("#room-title", "Town hall")
	for _, source := range []string{"camera", "screen"} {
		speaker.waitPlaying(fmt.Sprintf(`.tile[data-participant=%q][data-source=%s] video`, hostID, source), "the host's "+source)
	}
	if got := speaker.js(`document.querySelector('#broadcast-card').hidden`); got != true {
		t.Errorf("a co-presenter without moderate sees the broadcast card")
	}

	// A viewer joins with the audience PIN and watches the live stream.
	viewer := openTab(t, browser, a.url+"/?room=townhall", "viewer", desktop)
	viewer.expectHTTPError("/hls/townhall/index.m3u8")
	viewer.fill("#pin", room.str("pin"))
	viewer.fill("#name", "Ada\r")
	viewer.waitPath("/watch/townhall")
	waitPlaying(t, viewer, 3)
	host.waitJS(`[...document.querySelectorAll('#broadcast-status dt')].some((dt) => dt.textContent === 'Viewers' && dt.nextElementSibling.textContent === '1')`,
		"one viewer in the studio's broadcast card")

	// The viewer's question waits in the studio's Q&A until the host approves it.
	viewer.waitJS(`document.querySelector('.chat')?.dataset.state === 'ready'`, "the viewer's chat")
	viewer.fill(".chat-composer textarea", "Is this recorded?")
	viewer.click(".chat-composer button[type=submit]")
	viewer.waitText(".chat-list li.mine", "Waiting for approval")
	item := fmt.Sprintf(`li[data-id="%v"]`, viewer.js(`Number(document.querySelector('.chat-list li.mine').dataset.id)`))
	host.click(".chat-tabs [role=tab]:nth-child(2)")
	host.waitText(".chat-qa "+item+"[data-state=pending]", "Is this recorded?")
	host.click(".chat-qa " + item + " [data-action=approve]")
	viewer.waitText(".chat-list "+item+"[data-state=approved]", "Is this recorded?")

	// The host records a few seconds, then stops.
	host.click("#record-toggle")
	host.waitJS(`document.querySelector('#record-toggle').getAttribute('aria-checked') === 'true'`, "recording on")
	var recs []any
	eventually(t, 30*time.Second, "a recording of 3 s", func() bool {
		recs = a.must(http.StatusOK, "GET", "/api/v1/rooms/townhall/recordings", a.adminKey, nil).body["recordings"].([]any)
		return len(recs) == 1 && recs[0].(map[string]any)["duration_ms"].(float64) >= 3000
	}, func() string { return fmt.Sprint(recs) })
	host.click("#record-toggle")
	host.waitJS(`document.querySelector('#record-toggle').getAttribute('aria-checked') === 'false'`, "recording off")
	eventually(t, 30*time.Second, "the recording complete", func() bool {
		recs = a.must(http.StatusOK, "GET", "/api/v1/rooms/townhall/recordings", a.adminKey, nil).body["recordings"].([]any)
		return len(recs) == 1 && recs[0].(map[string]any)["status"] == "complete"
	}, func() string { return fmt.Sprint(recs) })

	// The recording plays in the console.
	row := fmt.Sprintf(`#recordings tr[data-recording=%q]`, recs[0].(map[string]any)["id"])
	admin.do(chromedp.Reload())
	admin.waitText(row, "Ready")
	admin.click(row + " [data-action=play]")
	eventually(t, 20*time.Second, "the recording loaded", func() bool {
		return admin.js(`document.querySelector('dialog.recording-dialog[open] video')?.readyState >= 2`) == true
	})
	admin.js(`document.querySelector('dialog.recording-dialog video').muted = true; document.querySelector('dialog.recording-dialog video').play().then(() => true)`)
	eventually(t, 20*time.Second, "the recording playing 2 s", func() bool {
		cur, _ := admin.js(`document.querySelector('dialog.recording-dialog video').currentTime`).(float64)
		return cur >= 2
	})
	for _, tab := range []*uiTab{admin, host, speaker, viewer} {
		tab.checkClean()
	}
}
