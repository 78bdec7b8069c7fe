package api

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/hls/hlstest"
	"lectern/hls/record"
	"lectern/storage/objstore"
	"lectern/storage/storagetest"
)

// adminRecordingsAPI is the test API with a recorder writing to a local
// object store, as `go run ./cmd/lectern` has.
func adminRecordingsAPI(t *testing.T) *testAPI {
	t.Helper()
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	t.Cleanup(a.srv.hls.Close)
	dir := t.TempDir()
	store, err := objstore.NewLocal(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rec, err := record.New(record.DefaultConfig(filepath.Join(dir, "spool")), record.Deps{
		DB: a.db, Store: store, HLS: a.srv.hls, Secret: bytes.Repeat([]byte{9}, 32), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Shutdown(t.Context()) })
	srv, err := New(DefaultConfig(), Deps{DB: a.db, Issuer: a.issuer, Registry: prometheus.NewRegistry(), Log: log,
		SFU: a.media, Chat: startChat(t, a.db, log), HLS: a.srv.hls, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	return serveAlso(t, a, srv)
}

// TestAdminRecordings records a broadcast for real, then drives the
// console's recordings card: the recording is listed as ready with its
// length, plays in the dialog (currentTime advancing), and is deleted after
// confirming; on a phone the card fits.
func TestAdminRecordings(t *testing.T) {
	browser := startChromium(t)
	clip := hlstest.NewClip(t, 640, 360, 4, "rec")
	sound := hlstest.NewSound(t, 4, 440)
	a := adminRecordingsAPI(t)
	a.createRoom(map[string]any{"id": "weekly", "name": "Weekly update", "mode": "webinar",
		"broadcast": map[string]any{"hls": true, "record": true}})

	// A short broadcast, recorded, then stopped.
	signal := dialRoom(t, a, "weekly", a.tokenFor("presenter", "weekly", access.Host))
	signal.next("welcome")
	pub := hlstest.Publish(t, wsSignal(signal), hlstest.Track{Source: "camera", Clip: clip}, hlstest.Track{Source: "microphone", Sound: sound})
	a.waitLive("weekly")
	var recs []any
	eventually(t, 30*time.Second, "a recording of 4 s", func() bool {
		recs = a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly/recordings", a.adminKey, nil).body["recordings"].([]any)
		return len(recs) == 1 && recs[0].(map[string]any)["duration_ms"].(float64) >= 4000
	}, func() string { return fmt.Sprint(recs) })
	pub.Stop()
	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/weekly/broadcast", a.adminKey, map[string]any{"record": false})
	eventually(t, 30*time.Second, "the recording complete", func() bool {
		recs = a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly/recordings", a.adminKey, nil).body["recordings"].([]any)
		return len(recs) == 1 && recs[0].(map[string]any)["status"] == "complete"
	}, func() string { return fmt.Sprint(recs) })
	id := recs[0].(map[string]any)["id"].(string)
	row := fmt.Sprintf(`#recordings tr[data-recording=%q]`, id)

	// The console lists it and plays it.
	tab := openTab(t, browser, a.url+"/admin", "admin", desktop)
	tab.expectHTTPError("/api/v1/rooms/weekly/stream-key") // the room has none: the card says so
	tab.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	tab.fill("#admin-key", a.adminKey)
	tab.click("#signin-form button[type=submit]")
	tab.waitText("table.rooms", "Weekly update")
	tab.click("table.rooms a")
	tab.waitText(row, "Ready")
	tab.waitText(row, "0:0")
	tab.js(`document.querySelector('#recordings-title').scrollIntoView(); true`)
	tab.screenshot("admin-recordings")
	tab.click(row + " [data-action=play]")
	eventually(t, 20*time.Second, "the recording loaded", func() bool {
		return tab.js(`document.querySelector('dialog.recording-dialog[open] video')?.readyState >= 2`) == true
	}, func() string {
		return fmt.Sprint(tab.js(`document.querySelector('dialog.recording-dialog')?.innerText`))
	})
	tab.js(`document.querySelector('dialog.recording-dialog video').muted = true; document.querySelector('dialog.recording-dialog video').play().then(() => true)`)
	eventually(t, 20*time.Second, "the recording playing 2 s", func() bool {
		cur, _ := tab.js(`document.querySelector('dialog.recording-dialog video').currentTime`).(float64)
		return cur >= 2
	})
	tab.screenshot("admin-recording-play")
	tab.click("dialog.recording-dialog .form-actions button")
	tab.waitJS(`!document.querySelector('dialog.recording-dialog')`, "the player closed")

	// The same card on a phone.
	mobile := openTab(t, browser, a.url+"/admin", "admin on a phone", phone)
	mobile.expectHTTPError("/api/v1/rooms/weekly/stream-key")
	mobile.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	mobile.fill("#admin-key", a.adminKey)
	mobile.click("#signin-form button[type=submit]")
	mobile.click("table.rooms a")
	mobile.waitText(row, "Ready")
	mobile.js(`document.querySelector('#recordings-title').scrollIntoView(); true`)
	mobile.checkFits()
	mobile.screenshot("admin-recordings")
	mobile.checkClean()

	// Deleting asks first, then the recording is gone.
	tab.click(row + " [data-action=delete]")
	tab.waitText("dialog.confirm", "Delete this recording?")
	tab.click("dialog.confirm button[value=yes]")
	tab.waitText("#recordings", "No recordings yet")
	if recs := a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly/recordings", a.adminKey, nil).body["recordings"].([]any); len(recs) != 0 {
		t.Errorf("after deleting from the console the API lists %v", recs)
	}
	tab.checkClean()
}
