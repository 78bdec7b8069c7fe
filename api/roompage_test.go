package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"lectern/storage/storagetest"
)

// TestRoomPage has two people meet in a conference room through the join
// page: each sees the other's camera decoding, a mute and a shared screen
// appear live, one mutes the other for themselves and picks a lower quality,
// someone whose browser blocks the camera is told so and still watches, a
// deleted room and a lost connection are explained.
func TestRoomPage(t *testing.T) {
	browserCtx := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	room := a.createRoom(map[string]any{"id": "standup", "name": "Team stand-up", "tier": "hd"})

	ada := joinRoom(t, browserCtx, a, room, "Ada Lovelace", desktop)
	bob := joinRoom(t, browserCtx, a, room, "Bob", phone)
	adaID := ada.js(`document.querySelector('.tile-self').dataset.participant`).(string)
	bobID := bob.js(`document.querySelector('.tile-self').dataset.participant`).(string)
	adaSeesBob := fmt.Sprintf(`.tile[data-participant=%q][data-source=camera]`, bobID)
	ada.waitPlaying(adaSeesBob+" video", "Bob's camera")
	bob.waitPlaying(fmt.Sprintf(`.tile[data-participant=%q][data-source=camera] video`, adaID), "Ada's camera")
	ada.waitText("#people", "2 people")

	// Bob mutes his microphone: Ada's tile of Bob shows it, then the unmute.
	bob.click("#mic")
	ada.waitJS(fmt.Sprintf(`document.querySelector(%q).dataset.mic === 'off'`, adaSeesBob), "Bob's microphone off on Ada's tile")
	bob.click("#mic")
	ada.waitJS(fmt.Sprintf(`document.querySelector(%q).dataset.mic === 'on'`, adaSeesBob), "Bob's microphone on again")

	// Ada mutes Bob for herself only.
	ada.click(adaSeesBob + ` [data-action=mute-for-me]`)
	// What the button and Bob's audio elements say, to tell a click that
	// did not land (a loaded CI run timed out here once) from a mute that
	// did not reach the audio.
	mutedState := fmt.Sprintf(`(() => ({pressed: document.querySelector('%s [data-action=mute-for-me]')?.getAttribute('aria-pressed'), audio: [...document.querySelectorAll('audio')].filter((a) => a.dataset.participant === %q).map((a) => a.muted)}))()`, adaSeesBob, bobID)
	var muted map[string]any
	eventually(t, 30*time.Second, "Bob muted for Ada", func() bool {
		muted = ada.js(mutedState).(map[string]any)
		audio, _ := muted["audio"].([]any)
		for _, m := range audio {
			if m != true {
				return false
			}
		}
		return muted["pressed"] == "true"
	}, func() string { return fmt.Sprintf("button and audio elements: %v", muted) })
	if got := bob.js(`document.querySelector('#mic').classList.contains('off')`); got != false {
		t.Errorf("muting Bob for Ada muted Bob's microphone")
	}

	// Someone speaks (the fake microphone beeps): a tile gets the ring.
	ada.waitJS(`!!document.querySelector('.tile.speaking')`, "a speaking ring")

	// Ada asks for Bob's lowest layer (simulcast): the picture gets smaller.
	// The choice appears once a second layer arrived: Chromium starts the
	// upper layers as its bandwidth estimate grows, slowly on a busy machine.
	layers := time.Now()
	ada.waitLong(fmt.Sprintf(`!document.querySelector('%s .tile-quality').hidden`, adaSeesBob), "the quality choice", 60*time.Second)
	t.Logf("Bob's second simulcast layer arrived %v after his camera played", time.Since(layers).Round(time.Millisecond))
	ada.js(fmt.Sprintf(`(() => { const s = document.querySelector('%s .tile-quality'); s.value = 'q'; s.dispatchEvent(new Event('change')); return true; })()`, adaSeesBob))
	ada.waitJS(fmt.Sprintf(`(() => { const v = document.querySelector('%s video'); return v.videoWidth > 0 && v.videoWidth <= 1280 / 4; })()`, adaSeesBob), "Bob's low layer")

	// Bob shares his screen: it takes the spotlight on Ada's page.
	bob.click("#screen")
	ada.waitPlaying(fmt.Sprintf(`.tile.spotlight[data-participant=%q][data-source=screen] video`, bobID), "Bob's screen")
	ada.waitJS(`document.querySelector('#tiles').classList.contains('has-spotlight')`, "the spotlight layout")
	bob.waitJS(`document.querySelector('#screen').classList.contains('active')`, "Bob's screen button pressed")

	// The chat panel holds the chat widget; on a phone it opens with a button.
	ada.waitJS(`!!document.querySelector('.chat-panel textarea')`, "the chat composer")
	bob.click("#chat-toggle")
	bob.waitJS(`document.querySelector('#chat-toggle').getAttribute('aria-expanded') === 'true' && getComputedStyle(document.querySelector('#side')).display !== 'none'`, "the chat on the phone")
	bob.js(`window.scrollTo(0, 0)`)

	for _, tab := range []*uiTab{ada, bob} {
		tab.checkFits()
		tab.screenshot("room")
	}

	t.Run("camera blocked", func(t *testing.T) {
		denying := startChromium(t, chromedp.Flag("use-fake-ui-for-media-stream", "deny"))
		tab := joinRoom(t, denying, a, room, "Carol", desktop)
		// A busy machine may take a while to refuse.
		tab.waitLong(`document.querySelector('#problem-text').textContent.includes('The camera and microphone are blocked for this site')`, "the blocked camera explained", 30*time.Second)
		tab.waitText("#problem-text", "You can still see and hear the others")
		tab.waitJS(`!document.querySelector('#problem-retry').hidden`, "the Try again button")
		// Carol still watches Ada, and the others see Carol without a picture.
		tab.waitPlaying(fmt.Sprintf(`.tile[data-participant=%q][data-source=camera] video`, adaID), "Ada's camera for Carol")
		carolID := tab.js(`document.querySelector('.tile-self').dataset.participant`).(string)
		ada.waitJS(fmt.Sprintf(`document.querySelector('.tile[data-participant=%q][data-source=camera]')?.dataset.camera === 'off'`, carolID), "Carol's tile without a picture")
		tab.checkFits()
		tab.screenshot("room-blocked")
		tab.checkClean()
	})

	t.Run("room deleted", func(t *testing.T) {
		a.createRoom(map[string]any{"id": "gone", "name": "Gone soon"})
		tab := openTab(t, browserCtx, a.url+"/", "late", desktop)
		tab.storeJoin(a, "gone", "Dan", "member")
		a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/gone", a.adminKey, nil)
		tab.expectHTTPError("/api/v1/rooms/gone/ws")
		tab.navigate(a.url + "/room/gone")
		tab.waitText("#fatal-title", "This room does not exist")
		tab.waitJS(`document.activeElement.id === 'fatal-title' && sessionStorage.getItem('lectern.join.gone') === null`, "focus on the message, the join forgotten")
		tab.checkClean()
	})

	t.Run("no join", func(t *testing.T) {
		// From another page, so that arriving at / shows the redirect.
		tab := openTab(t, browserCtx, a.url+"/admin", "stranger", phone)
		tab.js(`location.assign('/studio/standup'), true`)
		tab.waitPath("/")
		if got := tab.js(`location.search`); got != "?room=standup" {
			t.Errorf("sent to the join page with %v, want ?room=standup", got)
		}
		if got := tab.js(`document.querySelector('#room').value`); got != "standup" {
			t.Errorf("join page room field = %v, want standup", got)
		}
		tab.checkClean()
	})

	// The media server stops under the call: the page says the connection
	// was lost and offers to rejoin.
	if err := a.media.Close(); err != nil {
		t.Fatal(err)
	}
	ada.waitText("#fatal-title", "Connection lost")
	ada.waitJS(`!document.querySelector('#rejoin').hidden && document.activeElement.id === 'fatal-title'`, "the Rejoin button")
	ada.checkClean()
	bob.checkClean()
}

// joinRoom joins room through the join page with its audience PIN and name,
// enters with the camera check's choices and waits for one's own tile.
// keepResolution makes the cameras of a test browser keep their resolution
// when Chromium finds the CPU overused (contentHint "detail": it lowers the
// frame rate instead). Scaled down, a camera has too few pixels for more than
// one simulcast layer, and a test machine running other tests beside the
// browser is often "overused".
const keepResolution = `(() => {
  const gum = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = async function (...args) {
    const stream = await gum.apply(this, args);
    for (const track of stream.getVideoTracks()) track.contentHint = 'detail';
    return stream;
  };
})();`

func joinRoom(t *testing.T, browserCtx context.Context, a *testAPI, room response, name string, vp viewport) *uiTab {
	t.Helper()
	id := room.str("id")
	tab := openTab(t, browserCtx, a.url+"/?room="+id, name, vp)
	tab.do(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		return chromedp.Void{}, t.Call(ctx, cdppage.CommandAddScriptToEvaluateOnNewDocument,
			&cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: keepResolution}, nil)
	})
	tab.fill("#pin", room.str("pin"))
	tab.fill("#name", name)
	tab.click("#join-submit")
	tab.waitText("#enter", "Join the meeting")
	tab.click("#enter")
	tab.waitPath("/room/" + id)
	tab.waitText("#room-title", room.str("name"))
	tab.waitJS(`!!document.querySelector('.tile-self')`, "one's own tile")
	return tab
}
