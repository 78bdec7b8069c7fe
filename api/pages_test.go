package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/storage/storagetest"
)

// TestPagesServed checks the page routes without a browser: each answers
// its HTML page and the shared stylesheet is CSS.
func TestPagesServed(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	for path, want := range map[string]string{
		"/": "<title>Join a room", "/admin": "<title>Console", "/room/weekly": "<title>Meeting",
		"/studio/weekly": "<title>Studio", "/watch/weekly": "<title>Watch",
	} {
		r := a.must(http.StatusOK, "GET", path, "", nil)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(r.raw), want) {
			t.Errorf("GET %s: %s, %.80q; want HTML with %s", path, ct, r.raw, want)
		}
	}
	if r := a.must(http.StatusOK, "GET", "/admin", "", nil); r.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/admin may be framed: X-Frame-Options %q", r.header.Get("X-Frame-Options"))
	}
	for path, ct := range map[string]string{"/css/app.css": "text/css", "/js/api.js": "text/javascript", "/img/lectern.svg": "image/svg+xml"} {
		if r := a.must(http.StatusOK, "GET", path, "", nil); !strings.HasPrefix(r.header.Get("Content-Type"), ct) {
			t.Errorf("GET %s: Content-Type %q, want %s", path, r.header.Get("Content-Type"), ct)
		}
	}
	a.must(http.StatusNotFound, "GET", "/css/missing.css", "", nil)
}

// TestAdminConsole drives /admin as an admin would: a wrong key, signing in,
// a refused and then a created webinar room, PIN rotation, a member, a
// permission change, a stream key, a token, the phone layout, deleting the
// room and signing out.
func TestAdminConsole(t *testing.T) {
	browserCtx := startChromium(t)
	a := withRTSP(t, newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()}))
	tab := openTab(t, browserCtx, a.url+"/admin", "admin", desktop)

	// A wrong key is refused next to the field.
	tab.expectHTTPError("/api/v1/rooms")
	tab.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	tab.screenshot("admin-signin")
	tab.fill("#admin-key", "lk_not-the-key")
	tab.click("#signin-form button[type=submit]")
	tab.waitText("#admin-key-error", "not an admin key")

	tab.fill("#admin-key", a.adminKey)
	tab.click("#signin-form button[type=submit]")
	tab.waitText("#rooms-list", "No rooms yet")

	// An invalid ID is refused, with the server's message under the ID field.
	tab.click("#new-room")
	tab.fill("#room-name", "Weekly update")
	tab.fill("#room-id", "Weekly Update!")
	tab.click(`#room-form input[name=mode][value=webinar]`)
	tab.js(`document.querySelector('#room-tier').value = 'fhd'`)
	tab.click("#room-hls")
	tab.click("#room-submit")
	tab.waitText("#room-id-error", "lowercase letters, digits")
	if got := tab.js(`document.querySelector('#room-id').getAttribute('aria-invalid')`); got != "true" {
		t.Errorf("room ID field aria-invalid = %v, want true", got)
	}
	tab.screenshot("admin-new-room")
	tab.fill("#room-id", "weekly")
	tab.click("#room-submit")
	tab.waitText("#room-title", "Weekly update")
	room := a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly", a.adminKey, nil)
	if room.str("mode") != "webinar" || room.str("tier") != "fhd" || room.body["broadcast"].(map[string]any)["hls"] != true {
		t.Errorf("created room: %s", room.raw)
	}
	if got := tab.js(`document.querySelector('#pin-value').dataset.pin`); got != room.str("pin") {
		t.Errorf("page shows audience PIN %v, the room's is %s", got, room.str("pin"))
	}

	// Rotating the audience PIN changes it and leaves the speaker PIN; then both.
	tab.click("#rotate-pin")
	tab.click("dialog.confirm button[value=yes]")
	tab.waitJS(fmt.Sprintf(`document.querySelector('#pin-value').dataset.pin !== %q`, room.str("pin")), "a new audience PIN")
	rotated := a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly", a.adminKey, nil)
	if rotated.str("pin") == room.str("pin") || rotated.str("speaker_pin") != room.str("speaker_pin") {
		t.Errorf("rotating the audience PIN: %s -> %s", room.raw, rotated.raw)
	}
	if got := tab.js(`document.querySelector('#pin-value').dataset.pin`); got != rotated.str("pin") {
		t.Errorf("page shows PIN %v after rotation, the room's is %s", got, rotated.str("pin"))
	}
	tab.click("#rotate-both")
	tab.click("dialog.confirm button[value=yes]")
	tab.waitJS(fmt.Sprintf(`document.querySelector('#speaker_pin-value').dataset.pin !== %q`, room.str("speaker_pin")), "a new speaker PIN")
	both := a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly", a.adminKey, nil)
	if both.str("pin") == rotated.str("pin") || both.str("speaker_pin") == rotated.str("speaker_pin") {
		t.Errorf("rotating both PINs: %s -> %s", rotated.raw, both.raw)
	}

	// A host member with an HD tier; then the table takes away send.
	tab.click("#add-member")
	tab.fill("#member-identity", "alice")
	tab.fill("#member-name", "Alice Liddell")
	tab.js(`(() => { const s = document.querySelector('#member-preset'); s.value = 'host'; s.dispatchEvent(new Event('change')); })()`)
	tab.js(`document.querySelector('#member-tier').value = 'hd'`)
	tab.screenshot("admin-member")
	tab.click("#member-submit")
	tab.waitJS(`!!document.querySelector('tr[data-identity=alice]')`, "alice's row")
	alice := a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly/members/alice", a.adminKey, nil)
	if p := perms(t, alice.body["permissions"]); p.String() != "publish,subscribe,list,send,receive,moderate" || alice.str("tier") != "hd" || alice.str("name") != "Alice Liddell" {
		t.Errorf("member added from the page: %s", alice.raw)
	}
	tab.click(`tr[data-identity=alice] input[data-perm=send]`)
	eventually(t, 5*time.Second, "send taken from alice", func() bool {
		m := a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly/members/alice", a.adminKey, nil)
		return perms(t, m.body["permissions"]).String() == "publish,subscribe,list,receive,moderate"
	})

	// A stream key, shown with the encoder settings.
	tab.click("#create-stream-key")
	tab.waitJS(`!!document.querySelector('#stream-key-value')`, "the stream key")
	key := a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly/stream-key", a.adminKey, nil).str("stream_key")
	if shown := tab.js(`document.querySelector('#stream-key-value').textContent`); shown == key {
		t.Errorf("the stream key is shown before Show was pressed")
	}
	tab.click("#reveal-key")
	tab.waitText("#stream-key-value", key)
	tab.waitText("#stream-key", a.url+"/whip/weekly")
	tab.waitText("#rtsp-url", "rtsp://encoder:"+key+"@127.0.0.1:8554/weekly")

	// A token for alice carries her member permissions.
	tab.fill("#token-identity", "alice")
	tab.click("#token-form button[type=submit]")
	tab.waitJS(`document.querySelector('#token-value')?.value.length > 20`, "a token")
	claims, err := a.issuer.Verify(tab.js(`document.querySelector('#token-value').value`).(string))
	if err != nil {
		t.Fatalf("minted token: %v", err)
	}
	if g, err := claims.Grant("weekly"); err != nil || claims.Identity != "alice" || g.Permissions.String() != "publish,subscribe,list,receive,moderate" {
		t.Errorf("minted token: %+v, %v", claims, err)
	}
	tab.js(`document.querySelector('#reveal-key').click()`) // hide the key for the picture
	tab.js(`window.scrollTo(0, 0)`)
	tab.screenshot("admin-room")
	tab.fullScreenshot("admin-room-full")

	a.createRoom(map[string]any{"id": "standup", "name": "Team stand-up", "tier": "sd"})
	tab.click("a.back")
	tab.waitJS(`!!document.querySelector('table.rooms')`, "the rooms table")
	tab.waitText("table.rooms", "Weekly update")
	tab.screenshot("admin-rooms")

	// The same console on a phone.
	mobile := openTab(t, browserCtx, a.url+"/admin", "admin on a phone", phone)
	mobile.waitJS(`!document.querySelector('#signin-view').hidden`, "sign-in form")
	mobile.fill("#admin-key", a.adminKey)
	mobile.click("#signin-form button[type=submit]")
	mobile.waitText("table.rooms", "Weekly update")
	mobile.checkFits()
	mobile.screenshot("admin-rooms")
	mobile.click("#new-room")
	mobile.checkFits()
	mobile.screenshot("admin-new-room")
	mobile.click("#room-form [data-close]")
	mobile.click("table.rooms a")
	mobile.waitJS(`!!document.querySelector('tr[data-identity=alice]') && !!document.querySelector('#stream-key-value')`, "the room's members and stream key")
	mobile.checkFits()
	mobile.screenshot("admin-room")
	mobile.fullScreenshot("admin-room-full")
	mobile.checkClean()

	// Deleting the room, after confirming, and signing out.
	tab.click("table.rooms a")
	tab.waitText("#room-title", "Weekly update")
	tab.click("#delete-room")
	tab.click("dialog.confirm button[value=yes]")
	tab.waitJS(`location.hash === '#/' && !document.querySelector('#rooms-list').textContent.includes('Weekly update')`, "the list without the deleted room")
	tab.waitText("#rooms-list", "Team stand-up")
	a.must(http.StatusNotFound, "GET", "/api/v1/rooms/weekly", a.adminKey, nil)
	tab.click("#sign-out")
	tab.waitJS(`!document.querySelector('#signin-view').hidden && sessionStorage.getItem('lectern.adminKey') === null`, "signed out")
	tab.checkClean()
}

// TestJoinPage has guests join a webinar and a conference with their PINs:
// wrong PINs and unknown rooms are explained, each PIN leads to its page,
// publishers first see their camera, and a blocked camera is explained.
func TestJoinPage(t *testing.T) {
	browserCtx := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	webinar := a.createRoom(map[string]any{"id": "weekly", "name": "Weekly update", "mode": "webinar", "tier": "fhd"})
	conference := a.createRoom(map[string]any{"id": "standup", "name": "Stand-up"})

	t.Run("wrong PIN and unknown room", func(t *testing.T) {
		tab := openTab(t, browserCtx, a.url+"/?room=weekly", "join", desktop)
		tab.expectHTTPError("/api/v1/rooms/weekly/join")
		tab.expectHTTPError("/api/v1/rooms/nowhere/join")
		if got := tab.js(`document.querySelector('#room').value`); got != "weekly" {
			t.Errorf("room field = %v, want weekly from ?room=", got)
		}
		tab.screenshot("join")
		tab.fill("#pin", wrongPIN(webinar.str("pin"), webinar.str("speaker_pin")))
		tab.fill("#name", "Ada")
		tab.click("#join-submit")
		tab.waitText("#pin-error", "This PIN does not open this room")
		if got := tab.js(`document.activeElement.id`); got != "pin" {
			t.Errorf("focus on %v after a wrong PIN, want the PIN field", got)
		}
		tab.fill("#room", "Nowhere")
		tab.click("#join-submit")
		tab.waitText("#room-error", "There is no room “nowhere”")
		tab.checkClean()
	})

	t.Run("viewer goes to the watch page", func(t *testing.T) {
		tab := openTab(t, browserCtx, a.url+"/?room=weekly", "viewer", desktop)
		// By keyboard: Enter in the last field joins.
		tab.fill("#pin", webinar.str("pin"))
		tab.fill("#name", "Grace\r")
		tab.expectHTTPError("/hls/weekly/index.m3u8") // nothing on air
		tab.waitPath("/watch/weekly")
		tab.waitText("#room-name", "Weekly update")
		token := tab.js(`JSON.parse(sessionStorage.getItem('lectern.join.weekly')).token`).(string)
		if c, err := a.issuer.Verify(token); err != nil || c.Name != "Grace" {
			t.Errorf("stored token: %+v, %v", c, err)
		}
		tab.checkClean()
	})

	t.Run("speaker checks the camera and goes to the studio", func(t *testing.T) {
		for _, vp := range []viewport{desktop, phone} {
			tab := openTab(t, browserCtx, a.url+"/?room=weekly", "speaker", vp)
			if vp == phone {
				tab.screenshot("join")
			}
			tab.fill("#pin", webinar.str("speaker_pin"))
			tab.fill("#name", "Linus")
			tab.click("#join-submit")
			tab.waitJS(`!document.querySelector('#device-step').hidden`, "the device check")
			tab.waitJS(`document.querySelector('#preview').videoWidth > 0 && document.querySelector('#camera').options.length > 0`, "the camera preview")
			tab.waitText("#enter", "Enter the studio")
			tab.checkFits()
			tab.screenshot("join-devices")
			tab.click("#enter")
			tab.waitPath("/studio/weekly")
			tab.waitText("#room-title", "Weekly update")
			tab.checkClean()
		}
	})

	t.Run("shared conference link", func(t *testing.T) {
		// Without a join, the room page sends the browser to the join page.
		tab := openTab(t, browserCtx, a.url+"/room/standup", "member", phone)
		tab.waitPath("/")
		if got := tab.js(`document.querySelector('#room').value`); got != "standup" {
			t.Errorf("room field = %v, want standup from the link", got)
		}
		tab.fill("#pin", conference.str("pin"))
		tab.fill("#name", "Ada")
		tab.click("#join-submit")
		tab.waitText("#enter", "Join the meeting")
		tab.click("#enter")
		tab.waitPath("/room/standup")
		tab.waitText("#room-title", "Stand-up")
		tab.checkClean()
	})

	t.Run("camera blocked", func(t *testing.T) {
		// This browser refuses camera and microphone, as when a person
		// blocked them for the site.
		denying := startChromium(t, chromedp.Flag("use-fake-ui-for-media-stream", "deny"))
		tab := openTab(t, denying, a.url+"/?room=weekly", "blocked camera", desktop)
		tab.fill("#pin", webinar.str("speaker_pin"))
		tab.fill("#name", "Linus")
		tab.click("#join-submit")
		tab.waitText("#device-problem", "The camera and microphone are blocked for this site")
		tab.waitJS(`!document.querySelector('#device-problem-box').hidden && !document.querySelector('#enter').disabled`, "the problem shown, entering still possible")
		tab.checkFits()
		tab.screenshot("join-blocked")
		tab.checkClean()
	})

	t.Run("too many attempts", func(t *testing.T) {
		// A server of its own: the wrong PINs above count for this address.
		a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
		conference := a.createRoom(map[string]any{"id": "standup", "name": "Stand-up"})
		tab := openTab(t, browserCtx, a.url+"/?room=standup", "guesser", desktop)
		tab.expectHTTPError("/api/v1/rooms/standup/join")
		tab.fill("#name", "Mallory")
		wrong := wrongPIN(conference.str("pin"), conference.str("speaker_pin"))
		for range DefaultConfig().JoinFailuresPerAddr {
			tab.fill("#pin", wrong)
			tab.click("#join-submit")
			tab.waitText("#pin-error", "This PIN does not open this room")
			tab.js(`document.querySelector('#pin-error').textContent = ''`)
		}
		tab.fill("#pin", wrong)
		tab.click("#join-submit")
		tab.waitText("#join-error", "Too many wrong PINs. For security, wait")
		tab.waitJS(`document.querySelector('#join-submit').disabled`, "the join button disabled while waiting")
		tab.checkClean()
	})
}

// withRTSP serves a second API over a's store and media whose stream keys
// carry an RTSP URL, as the real server's do.
func withRTSP(t *testing.T, a *testAPI) *testAPI {
	t.Helper()
	cfg := DefaultConfig()
	cfg.RTSPURL = "rtsp://127.0.0.1:8554"
	log := slog.New(slog.DiscardHandler)
	srv, err := New(cfg, Deps{DB: a.db, Issuer: a.issuer, Registry: prometheus.NewRegistry(), Log: log, SFU: a.media, Chat: startChat(t, a.db, log)})
	if err != nil {
		t.Fatal(err)
	}
	return serveAlso(t, a, srv)
}

// wrongPIN returns an 8-digit PIN that is neither of the room's.
func wrongPIN(pins ...string) string {
	for _, p := range []string{"00000000", "11111111", "22222222"} {
		if p != pins[0] && p != pins[1] {
			return p
		}
	}
	return "33333333"
}
