package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"lectern/storage/storagetest"
)

// browser is an HTTP client with its own cookie jar, as one browser profile.
type browser struct {
	t   *testing.T
	a   *testAPI
	hc  *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t *testing.T, a *testAPI) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, a: a, hc: &http.Client{Jar: jar}, jar: jar}
}

// join posts a PIN join and returns the status, the decoded body and the
// Set-Cookie header.
func (b *browser) join(room, pin string) (int, map[string]any, string) {
	b.t.Helper()
	data, _ := json.Marshal(map[string]any{"pin": pin, "name": "Guest"})
	res, err := b.hc.Post(b.a.url+"/api/v1/rooms/"+room+"/join", "application/json", bytes.NewReader(data))
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body, res.Header.Get("Set-Cookie")
}

// guest joins and returns the identity and token, failing unless it got 200.
func (b *browser) guest(room, pin string) (identity, token string) {
	b.t.Helper()
	status, body, _ := b.join(room, pin)
	if status != http.StatusOK {
		b.t.Fatalf("join: %d %v", status, body)
	}
	return body["identity"].(string), body["token"].(string)
}

// TestDeviceCookieMakesModerationStick joins by PIN from browsers with cookie
// jars: one browser is one guest identity in the room across joins, so a chat
// mute holds after it joins again and a ban refuses its join (403 banned),
// while another browser, or the same one with its cookies cleared or forged,
// is a new guest (what the cookie cannot stop, docs/security.md).
func TestDeviceCookieMakesModerationStick(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	pin := a.createRoom(map[string]any{"id": "dv", "name": "Device"}).str("pin")
	alice, bob := newBrowser(t, a), newBrowser(t, a)

	status, body, cookie := alice.join("dv", pin)
	if status != http.StatusOK {
		t.Fatalf("join: %d %v", status, body)
	}
	for _, attr := range []string{deviceCookie + "=", "Path=/api/v1/rooms", "HttpOnly", "SameSite=Lax", "Max-Age="} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("Set-Cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("Set-Cookie %q is Secure over plain HTTP", cookie)
	}
	first := body["identity"].(string)
	again, _ := alice.guest("dv", pin)
	other, bobToken := bob.guest("dv", pin)
	if again != first || other == first {
		t.Fatalf("identities: alice %s then %s, bob %s; want alice's twice and bob's apart", first, again, other)
	}

	// A chat mute of alice's guest holds when she joins again.
	a.must(http.StatusOK, "PUT", "/api/v1/rooms/dv/chat/mutes/"+first, a.adminKey, map[string]any{"seconds": 600})
	_, aliceToken := alice.guest("dv", pin)
	if r := a.do("POST", "/api/v1/rooms/dv/messages", aliceToken, map[string]any{"text": "back"}); r.status != http.StatusForbidden || r.code() != codeChatMuted {
		t.Errorf("muted guest who joined again posts: %d %s, want 403 %s", r.status, r.raw, codeChatMuted)
	}
	if r := a.do("POST", "/api/v1/rooms/dv/messages", bobToken, map[string]any{"text": "hello"}); r.status/100 != 2 {
		t.Errorf("another browser posts: %d %s", r.status, r.raw)
	}

	// A ban of alice's guest refuses her next join.
	a.must(http.StatusOK, "PUT", "/api/v1/rooms/dv/bans/"+first, a.adminKey, map[string]any{"seconds": 600})
	if status, body, _ := alice.join("dv", pin); status != http.StatusForbidden || body["code"] != codeBanned {
		t.Fatalf("banned browser joins: %d %v, want 403 %s", status, body, codeBanned)
	}
	if id, _ := bob.guest("dv", pin); id != other {
		t.Errorf("bob after alice's ban: %s, want %s", id, other)
	}

	// What it cannot stop: a forged cookie is a new device, as are cleared
	// cookies (a new jar: another browser or a private window).
	u, _ := url.Parse(a.url + "/api/v1/rooms")
	alice.jar.SetCookies(u, []*http.Cookie{{Name: deviceCookie, Value: "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", Path: "/api/v1/rooms"}})
	if id, _ := alice.guest("dv", pin); id == first || id == other {
		t.Errorf("forged cookie kept identity %s", id)
	}
	if id, _ := newBrowser(t, a).guest("dv", pin); id == first || id == other {
		t.Errorf("cleared cookies kept identity %s", id)
	}
	// In another room the same browser is another guest: bans stay per room.
	pin2 := a.createRoom(map[string]any{"id": "dv2", "name": "Device 2"}).str("pin")
	if id, _ := bob.guest("dv2", pin2); id == other {
		t.Errorf("bob has the same identity %s in two rooms", id)
	}
}

// joinResult is what a page's fetch of the join route saw.
type joinResult struct {
	Status     int            `json:"status"`
	Body       map[string]any `json:"body"`
	SeesCookie bool           `json:"seesCookie"`
}

// TestBrowserDeviceCookie joins by PIN from the real join page's origin in
// Chromium: the browser stores the cookie (scripts cannot read it), joins
// again as the same guest, is refused with 403 banned once that guest is
// banned, and a fresh browser context (a private window) is a new guest.
func TestBrowserDeviceCookie(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	pin := a.createRoom(map[string]any{"id": "dvb", "name": "Device"}).str("pin")
	site := browserSite(t, a)
	tab := func() context.Context {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		if _, err := chromedp.Run(ctx, chromedp.Navigate(site+"/")); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	join := func(ctx context.Context) joinResult {
		t.Helper()
		expr := fmt.Sprintf(`fetch('/api/v1/rooms/dvb/join', {method: 'POST', headers: {'Content-Type': 'application/json'},
			body: JSON.stringify({pin: %q, name: 'Guest'})}).then(async (r) => ({status: r.status, body: await r.json(),
			seesCookie: document.cookie.includes(%q)}))`, pin, deviceCookie)
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[joinResult](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	alice := tab()
	first, second := join(alice), join(alice)
	if first.Status != http.StatusOK || second.Status != http.StatusOK {
		t.Fatalf("joins: %+v, %+v", first, second)
	}
	if first.SeesCookie {
		t.Error("the page's script can read the device cookie (not HttpOnly)")
	}
	id := first.Body["identity"]
	if second.Body["identity"] != id {
		t.Fatalf("Chromium joined as %v then %v, want one guest", id, second.Body["identity"])
	}
	a.must(http.StatusOK, "PUT", "/api/v1/rooms/dvb/bans/"+id.(string), a.adminKey, map[string]any{"seconds": 600})
	if r := join(alice); r.Status != http.StatusForbidden || r.Body["code"] != codeBanned {
		t.Fatalf("banned browser joins: %+v, want 403 %s", r, codeBanned)
	}
	if r := join(tab()); r.Status != http.StatusOK || r.Body["identity"] == id {
		t.Errorf("a private window: %+v, want a new guest", r)
	}
}
