package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

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
