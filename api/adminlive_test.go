package api

import (
	"testing"

	"lectern/access"
	"lectern/storage/storagetest"
)

// TestAdminLiveNow drives the console's "Live now" card: the people in the
// room with what they publish; Mute mutes a camera for everyone (the others
// hear of it); Remove, after confirming, ends a participant, who is told.
func TestAdminLiveNow(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "weekly", "name": "Weekly update"})
	host := dialRoom(t, a, "weekly", a.tokenFor("host", "weekly", access.Host))
	host.next("welcome")
	guest := dialRoom(t, a, "weekly", a.tokenFor("guest", "weekly", access.Member))
	guest.next("welcome")
	host.publish("camera")
	guest.waitMedia("camera")
	guest.next("track_published")

	tab := openTab(t, browser, a.url+"/admin", "admin", desktop)
	tab.expectHTTPError("/api/v1/rooms/weekly/stream-key") // the room has none: the card says so
	tab.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	tab.fill("#admin-key", a.adminKey)
	tab.click("#signin-form button[type=submit]")
	tab.waitText("table.rooms", "Weekly update")
	tab.click("table.rooms a")
	hostRow, guestRow := `#live tr[data-identity="host"]`, `#live tr[data-identity="guest"]`
	tab.waitText(hostRow, "Mute camera")
	tab.waitText(guestRow, "Nothing")
	tab.js(`document.querySelector('#live-title').scrollIntoView(); true`)
	tab.screenshot("admin-live")

	tab.click(hostRow + " button[data-track]")
	if upd := guest.next("track_updated"); upd["track"].(map[string]any)["muted"] != true {
		t.Errorf("after Mute, the guest heard %v", upd)
	}
	tab.waitText(hostRow, "Unmute camera")

	tab.click(guestRow + " [data-action=remove]")
	tab.waitText("dialog.confirm", "Remove guest?")
	tab.click("dialog.confirm button[value=yes]")
	if ev := guest.next("removed"); ev["reason"] != "removed by the host" {
		t.Errorf("the guest was told %v", ev)
	}
	tab.waitJS(`!document.querySelector('#live tr[data-identity="guest"]')`, "the guest gone from the list")
	tab.checkClean()
}
