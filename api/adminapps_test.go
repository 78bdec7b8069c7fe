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
