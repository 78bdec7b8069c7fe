package api

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"lectern/storage/storagetest"
)

// TestStudioPINAlert floods a webinar with wrong PINs from 50 forged
// addresses while its host is in the studio: the studio shows the alert
// (screenshot studio-pin-alert), "Lock the room" locks it (PIN joins get
// room_locked, the host stays), "Rotate PINs" replaces both PINs, and the
// console shows the alert and the lock too.
func TestStudioPINAlert(t *testing.T) {
	browserCtx := startChromium(t)
	a := newProxiedAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()}, nil)
	room := a.createRoom(map[string]any{"id": "keynote", "name": "Keynote", "mode": "webinar"})
	tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{
		"identity": "ada", "name": "Ada", "rooms": map[string]any{"keynote": map[string]any{"preset": "host"}}}).str("token")
	host := openTab(t, browserCtx, a.url+"/studio/keynote#token="+tok, "host", desktop)
	host.waitText("#room-title", "Keynote")
	host.waitJS(`!document.querySelector('#broadcast-card').hidden`, "the studio connected as a moderator")
	if got := host.js(`document.querySelector('#pin-alert-box').hidden`); got != true {
		t.Fatalf("alert box shown before any flood")
	}

	wrong := wrongPIN(room.str("pin"), room.str("speaker_pin"))
	for i := range DefaultConfig().JoinFailuresPerRoom {
		mustJoinFrom(t, a, fmt.Sprintf("10.20.0.%d", i), "keynote", wrong, http.StatusForbidden, codeWrongPIN)
	}
	host.waitText("#pin-alert", "Someone is guessing this room’s PINs")
	host.waitText("#pin-alert-text", "50 wrong PINs since")
	host.checkFits()
	host.screenshot("studio-pin-alert")

	host.click("#pin-alert-lock")
	host.waitText("#room-locked", "Locked: new PIN joins are refused")
	if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/keynote", a.adminKey, nil); r.body["locked"] != true {
		t.Errorf("after Lock the room: %s", r.raw)
	}
	// A guest with the right PIN: metered first (the room is still flooded),
	// then told the room is locked once its check comes.
	for try := 0; ; try++ {
		r, err := joinFrom(t.Context(), http.DefaultClient, a, "192.0.2.99", "keynote", room.str("pin"))
		if err != nil {
			t.Fatal(err)
		}
		if r.status == http.StatusLocked && r.code() == codeRoomLocked {
			break
		}
		if r.status != http.StatusTooManyRequests || r.code() != codePINChecksSlowed || try == 3 {
			t.Fatalf("PIN join to the locked room, try %d: %d %s", try, r.status, r.raw)
		}
		wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
		<-time.After(time.Duration(wait) * time.Second)
	}
	host.click("#pin-alert-rotate")
	host.waitJS(`[...document.querySelectorAll('.toast')].some((e) => e.textContent.includes('Both PINs were replaced'))`, "the rotation confirmed")
	if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/keynote", a.adminKey, nil); r.str("pin") == room.str("pin") || r.str("speaker_pin") == room.str("speaker_pin") {
		t.Errorf("after Rotate PINs: %s", r.raw)
	}
	host.screenshot("studio-pin-alert-locked")

	// The console shows the same alert and lock, and unlocks.
	console := openTab(t, browserCtx, a.url+"/admin", "console", desktop)
	console.expectHTTPError("/stream-key") // the room has no stream key: 404, shown as such
	console.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	console.fill("#admin-key", a.adminKey)
	console.click("#signin-form button[type=submit]")
	console.waitText("#rooms-view", "Keynote")
	console.click(`a[href="#/rooms/keynote"]`)
	console.waitText("#pin-alert", "Someone is guessing this room’s PINs")
	console.waitText("#room-locked", "Locked")
	console.screenshot("console-pin-alert")
	console.click("#room-unlock")
	console.waitJS(`document.querySelector('#room-locked') === null && !!document.querySelector('#pin-alert-lock')`, "the room unlocked")
	if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/keynote", a.adminKey, nil); r.body["locked"] != false {
		t.Errorf("after Unlock: %s", r.raw)
	}
	host.checkClean()
	console.checkClean()
}
