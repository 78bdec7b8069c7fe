package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"lectern/storage/storagetest"
)

// TestStudioPage drives /studio as a webinar's host and a speaker would: the
// host (a link with a token with moderate, as the API mints it) publishes camera,
// microphone and screen; a co-presenter on a speaker-preset link sees both
// decoding; mute states travel both ways; the host runs the broadcast,
// chooses what is on air, sees the live figures and removes the speaker.
func TestStudioPage(t *testing.T) {
	browserCtx := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "weekly", "name": "Weekly update", "mode": "webinar", "tier": "fhd",
		"broadcast": map[string]any{"hls": true}})

	// The host opens a studio link carrying a token the API minted.
	tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{
		"identity": "grace", "name": "Grace Hopper", "rooms": map[string]any{"weekly": map[string]any{"preset": "host"}}}).str("token")
	host := openTab(t, browserCtx, a.url+"/studio/weekly#token="+tok, "host", desktop)
	host.waitText("#room-title", "Weekly update")
	if got := host.js(`location.hash === '' && JSON.parse(sessionStorage.getItem('lectern.join.weekly')).permissions.moderate`); got != true {
		t.Errorf("the link's token is not kept as a moderator's join, or stays in the address bar")
	}
	host.waitJS(`document.querySelector('.tile-self.tile-camera video')?.videoWidth > 0`, "the host's own camera")
	host.click("#screen")
	host.waitJS(`document.querySelector('.tile-self.tile-screen video')?.videoWidth > 0`, "the host's own screen")
	host.waitText("#screen", "Stop sharing")
	hostID := host.js(`document.querySelector('.tile-self').dataset.participant`).(string)
	host.waitJS(fmt.Sprintf(`['camera','microphone','screen'].every((s) => document.querySelector('#people [data-participant=%q] .track[data-source=' + s + ']'))`, hostID),
		"the host's three tracks in the people list")

	// A co-presenter who does not moderate (a token with the speaker preset)
	// sees the host's camera and screen.
	spk := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{
		"identity": "linus", "name": "Linus", "rooms": map[string]any{"weekly": map[string]any{"preset": "speaker"}}}).str("token")
	speaker := openTab(t, browserCtx, a.url+"/studio/weekly#token="+spk, "speaker", desktop)
	speaker.waitText("#room-title", "Weekly update")
	for _, source := range []string{"camera", "screen"} {
		speaker.waitPlaying(fmt.Sprintf(`.tile[data-participant=%q][data-source=%s] video`, hostID, source), "the host's "+source)
	}
	speaker.waitJS(`document.querySelector('#tiles').classList.contains('has-spotlight')`, "the screen in the spotlight")
	if got := speaker.js(`document.querySelector('#broadcast-card').hidden`); got != true {
		t.Errorf("a speaker without moderate sees the broadcast card")
	}
	speakerID := speaker.js(`document.querySelector('.tile-self').dataset.participant`).(string)
	person := fmt.Sprintf(`#people [data-participant=%q]`, speakerID)
	host.waitJS(fmt.Sprintf(`!!document.querySelector('%s .track[data-source=microphone][data-muted=false]')`, person), "the speaker's microphone in the host's list")
	host.waitPlaying(fmt.Sprintf(`.tile[data-participant=%q][data-source=camera] video`, speakerID), "the speaker's camera")

	// The host mutes the speaker: the speaker's page and the host's list say so.
	host.click(person + ` .track[data-source=microphone] button`)
	speaker.waitJS(`document.querySelector('#mic').classList.contains('off') && document.querySelector('.tile-self').dataset.mic === 'off'`, "the speaker muted by the host")
	host.waitJS(fmt.Sprintf(`!!document.querySelector('%s .track[data-source=microphone][data-muted=true]')`, person), "the muted microphone in the host's list")
	// The speaker unmutes; the host's tile of the speaker follows.
	speaker.click("#mic")
	host.waitJS(fmt.Sprintf(`!!document.querySelector('%s .track[data-source=microphone][data-muted=false]')`, person), "the unmuted microphone in the host's list")
	host.waitJS(fmt.Sprintf(`document.querySelector('.tile[data-participant=%q][data-source=camera]').dataset.mic === 'on'`, speakerID), "the speaker's tile unmuted")
	// The host turns its own camera off: the speaker's tile of the host shows initials.
	host.click("#camera")
	speaker.waitJS(fmt.Sprintf(`document.querySelector('.tile[data-participant=%q][data-source=camera]').dataset.camera === 'off'`, hostID), "the host's camera off")
	host.click("#camera")
	speaker.waitJS(fmt.Sprintf(`document.querySelector('.tile[data-participant=%q][data-source=camera]').dataset.camera === 'on'`, hostID), "the host's camera back on")

	// The broadcast: live, the screen on air, recording on and off.
	host.waitJS(`!document.querySelector('#broadcast-card').hidden && document.querySelector('#hls-toggle').getAttribute('aria-checked') === 'true'`, "the broadcast card with HLS on")
	host.waitLong(`document.querySelector('#air-badge').dataset.state === 'live'`, "the broadcast live", 30*time.Second)
	screen := host.js(fmt.Sprintf(`document.querySelector('#people [data-participant=%q] .track[data-source=screen]').dataset.track`, hostID)).(string)
	host.js(fmt.Sprintf(`(() => { const s = document.querySelector('#on-air'); s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, screen))
	eventually(t, 10*time.Second, "the screen on air", func() bool {
		return a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly/broadcast", a.adminKey, nil).body["on_air"].(map[string]any)["video"] == screen
	})
	host.waitText("#broadcast-status", "Grace Hopper (you) · screen")
	host.click("#record-toggle")
	host.waitJS(`document.querySelector('#record-toggle').getAttribute('aria-checked') === 'true'`, "recording on")
	if b := a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly/broadcast", a.adminKey, nil); b.body["record"] != true {
		t.Errorf("after Recording: %s", b.raw)
	}
	host.click("#record-toggle")
	host.waitJS(`document.querySelector('#record-toggle').getAttribute('aria-checked') === 'false'`, "recording off")

	// Live figures of what the host sends.
	host.waitJS(`/×/.test(document.querySelector('#stats tr[data-source=camera]')?.textContent ?? '') && /bit\/s/.test(document.querySelector('#stats').textContent)`, "the camera's sending figures")
	host.checkFits()
	host.js(`window.scrollTo(0, 0)`)
	host.screenshot("studio")
	host.fullScreenshot("studio-full")
	host.resize(phone)
	host.checkFits()
	host.screenshot("studio")
	host.resize(desktop)
	speaker.checkFits()

	// The host stops sharing: the speaker's screen tile goes.
	host.click("#screen")
	speaker.waitJS(fmt.Sprintf(`!document.querySelector('.tile[data-participant=%q][data-source=screen]')`, hostID), "the host's screen gone")

	// The host removes the speaker, who is told so and cannot come back with the old join.
	host.click(person + ` button.btn-danger`)
	host.click("dialog.confirm button[value=yes]")
	speaker.waitText("#fatal-title", "You were removed")
	speaker.waitJS(`!document.querySelector('#fatal').hidden && document.querySelector('#rejoin').hidden && sessionStorage.getItem('lectern.join.weekly') === null`, "the removal shown")
	host.waitJS(fmt.Sprintf(`!document.querySelector('%s')`, person), "the speaker gone from the host's list")
	host.checkClean()
	speaker.checkClean()
}

// storeJoin keeps a join for room in the tab's session storage, as the join
// page does after a PIN, but from a token the API minted with preset: how an
// integrator (or a co-presenter with the speaker preset) enters.
func (tab *uiTab) storeJoin(a *testAPI, room, name, preset string) {
	tab.t.Helper()
	tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{
		"identity": "host-" + preset, "name": name, "rooms": map[string]any{room: map[string]any{"preset": preset}}})
	r := a.must(http.StatusOK, "GET", "/api/v1/rooms/"+room, a.adminKey, nil)
	grant := tok.body["rooms"].(map[string]any)[room].(map[string]any)
	join, err := json.Marshal(map[string]any{"token": tok.str("token"), "expires_at": tok.str("expires_at"), "identity": tok.str("identity"),
		"name": name, "permissions": grant["permissions"], "tier": grant["tier"], "ice_servers": tok.body["ice_servers"],
		"room": map[string]any{"id": room, "name": r.str("name"), "mode": r.str("mode"), "tier": r.str("tier")}})
	if err != nil {
		tab.t.Fatal(err)
	}
	tab.js(fmt.Sprintf(`sessionStorage.setItem('lectern.join.' + %q, %q), true`, room, join))
}

// navigate loads url in the tab.
func (tab *uiTab) navigate(url string) {
	tab.t.Helper()
	tab.do(chromedp.Navigate(url))
}

// resize sets the tab's viewport (and the name of its screenshots).
func (tab *uiTab) resize(vp viewport) {
	tab.t.Helper()
	tab.vp = vp
	tab.do(chromedp.EmulateViewport(vp.width, vp.height, tab.mobileOpts()...))
}

// waitPlaying waits until the video sel has a picture and its time advances.
func (tab *uiTab) waitPlaying(sel, what string) {
	tab.t.Helper()
	tab.waitLong(fmt.Sprintf(`document.querySelector(%q)?.videoWidth > 0`, sel), what+" decoding", 30*time.Second)
	start := tab.js(fmt.Sprintf(`document.querySelector(%q).currentTime`, sel))
	tab.waitJS(fmt.Sprintf(`document.querySelector(%q).currentTime > %v + 0.5`, sel, start), what+" playing on")
}

// waitLong is waitJS with a longer deadline, for media that takes a while.
func (tab *uiTab) waitLong(expr, what string, within time.Duration) {
	tab.t.Helper()
	var last any
	eventually(tab.t, within, tab.name+": "+what, func() bool {
		last = tab.js(expr)
		b, _ := last.(bool)
		return b
	}, func() string { return fmt.Sprintf("last %v", last) })
}
