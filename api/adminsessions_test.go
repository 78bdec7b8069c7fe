package api

import (
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"lectern/access"
	"lectern/storage/storagetest"
	"lectern/usage"
)

// TestAdminSessions: after a meeting of two participants (real websockets
// and pion peers), the console's Sessions card lists the session; its
// attendance table shows both with their time present, and "Download CSV"
// saves the report that the API serves as CSV; on a phone the card fits.
func TestAdminSessions(t *testing.T) {
	browser := startChromium(t)
	a, tr, clk := newUsageAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "retro", "name": "Retro"})
	alice := dialRoom(t, a, "retro", a.sign(access.Claims{Identity: "alice", Name: "Alice Liddell",
		Rooms: map[string]access.Grant{"retro": {Permissions: access.Member}}, ExpiresAt: time.Now().Add(time.Hour)}))
	alice.next("welcome")
	bob := dialRoom(t, a, "retro", a.tokenFor("bob", "retro", access.Member))
	bob.next("welcome")
	alice.publish("camera")
	bob.waitMedia("camera")
	clk.Advance(90 * time.Second)
	bob.leave()
	waitPresent(t, tr, "retro", 1, 0)
	clk.Advance(150 * time.Second)
	alice.leave()
	waitPresent(t, tr, "retro", 0, 0)
	clk.Advance(usage.DefaultConfig().SessionGap)
	sessions := a.must(200, "GET", "/api/v1/rooms/retro/sessions", a.adminKey, nil).body["sessions"].([]any)
	id := sessions[0].(map[string]any)["id"].(string)
	row := fmt.Sprintf(`#sessions tr[data-session=%q]`, id)

	tab := openTab(t, browser, a.url+"/admin", "admin", desktop)
	tab.expectHTTPError("/api/v1/rooms/retro/stream-key")
	tab.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	tab.fill("#admin-key", a.adminKey)
	tab.click("#signin-form button[type=submit]")
	tab.waitText("table.rooms", "Retro")
	tab.click("table.rooms a")
	tab.waitText(row, "Meeting")
	tab.waitText(row, "4:00") // the session's length
	tab.click(row + " [data-action=attendance]")
	tab.waitText(`#attendance tr[data-identity="alice"]`, "Alice Liddell")
	tab.waitText(`#attendance tr[data-identity="alice"]`, "4:00")
	tab.waitText(`#attendance tr[data-identity="bob"]`, "1:30")
	tab.waitText("#attendance", "2 participants, 0 viewers, peak audience 2")
	tab.js(`document.querySelector('#sessions-title').scrollIntoView(); true`)
	tab.screenshot("admin-sessions")

	// The download: the page fetches the CSV with the admin key and saves
	// it through a link to a blob; the blob and the link's name are caught
	// here (the page's CSP lets nothing fetch a blob: URL back).
	tab.js(`window.__saved = null;
		const blobs = new Map();
		const createObjectURL = URL.createObjectURL;
		URL.createObjectURL = (b) => { const u = createObjectURL(b); blobs.set(u, b); return u; };
		HTMLAnchorElement.prototype.click = function () {
			const b = blobs.get(this.href);
			if (!this.download || !b) return;
			b.text().then((text) => { window.__saved = { name: this.download, text }; });
		}; true`)
	tab.click("#download-attendance")
	tab.waitJS(`window.__saved && typeof window.__saved.text === 'string'`, "the CSV saved")
	name, _ := tab.js(`window.__saved.name`).(string)
	text, _ := tab.js(`window.__saved.text`).(string)
	if name != "attendance-retro-"+id+".csv" {
		t.Errorf("saved as %q", name)
	}
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("the saved CSV: %v, %q", err, text)
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[2]] = r
	}
	if byID["alice"] == nil || byID["alice"][3] != "Alice Liddell" || byID["alice"][8] != "240.000" || byID["bob"] == nil || byID["bob"][8] != "90.000" {
		t.Errorf("the saved CSV: %q; want alice 240 s and bob 90 s", text)
	}

	mobile := openTab(t, browser, a.url+"/admin", "admin on a phone", phone)
	mobile.expectHTTPError("/api/v1/rooms/retro/stream-key")
	mobile.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	mobile.fill("#admin-key", a.adminKey)
	mobile.click("#signin-form button[type=submit]")
	mobile.click("table.rooms a")
	mobile.click(row + " [data-action=attendance]")
	mobile.waitText(`#attendance tr[data-identity="bob"]`, "1:30")
	mobile.js(`document.querySelector('#sessions-title').scrollIntoView(); true`)
	mobile.checkFits()
	mobile.screenshot("admin-sessions")
	mobile.checkClean()
	tab.checkClean()
}
