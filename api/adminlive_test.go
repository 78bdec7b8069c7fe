package api

import (
	"testing"
	"time"

	"lectern/access"
	"lectern/storage"
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
	tab.waitText(guestRow, "1 video") // what its connection receives
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

// TestAdminWebhooks: the console's Webhooks card shows the events waiting in
// the outbox with their last error, and Retry now makes them due at once.
func TestAdminWebhooks(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "weekly", "name": "Weekly update"})
	ctx := t.Context()
	if _, err := a.db.EnqueueWebhooks(ctx, []storage.WebhookEvent{
		{ID: "ev1", Type: "room_started", RoomID: "weekly", Body: []byte(`{}`)},
		{ID: "ev2", Type: "participant_joined", RoomID: "weekly", Body: []byte(`{}`)},
	}, 100); err != nil {
		t.Fatal(err)
	}
	claimed, err := a.db.ClaimWebhooks(ctx, "node", 10, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := a.db.RetryWebhook(ctx, claimed[0].Seq, 4, time.Now().Add(time.Hour), "connection refused"); err != nil {
		t.Fatal(err)
	}

	tab := openTab(t, browser, a.url+"/admin", "admin", desktop)
	tab.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	tab.fill("#admin-key", a.adminKey)
	tab.click("#signin-form button[type=submit]")
	tab.waitText("#webhook-summary", "2 events waiting")
	tab.waitText(`#webhooks tr[data-event="ev1"]`, "connection refused")
	tab.js(`document.querySelector('#webhooks-title').scrollIntoView(); true`)
	tab.screenshot("admin-webhooks")
	tab.click("#retry-webhooks")
	eventually(t, uiWait, "ev1 due again", func() bool {
		w, err := a.db.WaitingWebhooks(ctx, 1)
		return err == nil && len(w) == 1 && time.Until(w[0].NextAt) < time.Minute
	})
	tab.checkClean()
}
