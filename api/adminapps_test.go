package api

import (
	"net/http"
	"testing"

	"lectern/storage/storagetest"
)

// TestAdminApps drives the console's apps: the operator's key sees its app
// and every app, makes an app and an admin key of it (shown once); that key
// signs in to a console that shows only its app (no Apps card, no webhook
// outbox) and its rooms.
func TestAdminApps(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "weekly", "name": "Weekly update"})

	tab := openTab(t, browser, a.url+"/admin", "admin", desktop)
	tab.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	tab.fill("#admin-key", a.adminKey)
	tab.click("#signin-form button[type=submit]")
	tab.waitText("#app-summary", "Server operator key")
	tab.waitText(`#apps tr[data-app="default"]`, "Default")
	tab.fill(`#new-app-form input[name="id"]`, "acme")
	tab.fill(`#new-app-form input[name="name"]`, "Acme")
	tab.click(`#new-app-form button[type=submit]`)
	tab.waitText(`#apps tr[data-app="acme"]`, "Acme")
	tab.click(`#apps tr[data-app="acme"] button`) // New key
	tab.waitText("#app-key-out", "shown this once")
	key, _ := tab.js(`document.querySelector('#app-key-out code.app-key').textContent`).(string)
	tab.js(`document.querySelector('#apps-title').scrollIntoView(); true`)
	tab.screenshot("admin-apps-operator")
	if res := a.do(http.MethodGet, "/api/v1/app", key, nil); res.status != http.StatusOK {
		t.Fatalf("the key the console showed: %d %v", res.status, res.body)
	}
	// Limits: 2 rooms for acme.
	tab.click(`#apps tr[data-app="acme"] button[aria-label="Limits of Acme"]`)
	tab.fill(`#limits-form input[name="max_rooms"]`, "2")
	tab.click(`#limits-form button[type=submit]`)
	tab.waitText(`#apps tr[data-app="acme"]`, "0 of 2")

	tab.click("#sign-out")
	tab.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	tab.fill("#admin-key", key)
	tab.click("#signin-form button[type=submit]")
	tab.waitText("#app-summary", "Acme (acme)")
	tab.waitText("#app-info", "0 of 2")
	tab.waitJS(`document.querySelector('#apps-card').hidden && document.querySelector('#webhooks-card').hidden`, "no Apps or Webhooks card for an app's key")
	tab.waitJS(`!document.querySelector('table.rooms') || !document.querySelector('table.rooms').textContent.includes('Weekly update')`, "no room of the default app")
	tab.screenshot("admin-apps-app-admin")
	tab.checkClean()
}

// TestAppSocketTargets: the room IDs a socket's targets name are of its
// token's app: a token of acme publishing into acme's a1 and a2 sets both;
// the default app's room of the same name is not reached, and a key of
// another app's room is not found.
func TestAppSocketTargets(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.must(http.StatusCreated, "POST", "/api/v1/apps", a.adminKey, map[string]any{"id": "acme", "name": "Acme"})
	key := a.must(http.StatusCreated, "POST", "/api/v1/apps/acme/keys", a.adminKey, map[string]any{}).str("key")
	for _, id := range []string{"a1", "a2"} {
		a.must(http.StatusCreated, "POST", "/api/v1/rooms", key, map[string]any{"id": id, "name": id})
	}
	a.createRoom(map[string]any{"id": "d1", "name": "Default one"})
	tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", key, map[string]any{"identity": "pub",
		"rooms": map[string]any{"a1": map[string]any{"preset": "host"}, "a2": map[string]any{"preset": "host"}}}).str("token")
	ws := dialRoom(t, a, "a1", tok)
	ws.next("welcome")
	for _, tc := range []struct {
		rooms []string
		want  string
	}{
		{[]string{"a1", "a2"}, "ok"},
		{[]string{"a1", "acme~a2"}, "ok"},
		{[]string{"a1", "d1"}, "error"},
		{[]string{"a1", "beta~a2"}, "error"},
	} {
		ws.send(map[string]any{"type": "targets", "id": "t", "rooms": tc.rooms})
		if got := ws.next("ok", "error"); got["type"] != tc.want {
			t.Errorf("targets %v: %v, want %s", tc.rooms, got, tc.want)
		}
	}
}
