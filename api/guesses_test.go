package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"lectern/access"
	"lectern/storage/storagetest"
)

// TestKeyGuessesThrottled checks that wrong admin keys and wrong stream keys
// are limited per address, each kind on its own: past the limit every try
// of that kind, even the right key, gets 429 with Retry-After.
func TestKeyGuessesThrottled(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "stage", "name": "Stage"})
	limit := DefaultConfig().KeyFailuresPerAddr
	for i := range limit {
		if r := a.do("GET", "/api/v1/rooms", "lk_wrong-guess-"+strings.Repeat("x", i), nil); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong key %d: %d %s, want 401", i+1, r.status, r.raw)
		}
	}
	for _, key := range []string{"lk_one-more-guess", a.adminKey} {
		r := a.do("GET", "/api/v1/rooms", key, nil)
		if r.status != http.StatusTooManyRequests || r.code() != codeTooManyAttempts || r.header.Get("Retry-After") == "" {
			t.Errorf("after %d wrong keys: %d %s (Retry-After %q), want 429", limit, r.status, r.raw, r.header.Get("Retry-After"))
		}
	}
	// Stream keys count apart, and the same way.
	for i := range limit {
		if r := a.do("POST", "/whip/stage", "sk_wrong"+strings.Repeat("y", i), "v=0"); r.status != http.StatusUnauthorized || r.code() != codeInvalidStreamKey {
			t.Fatalf("wrong stream key %d: %d %s, want 401 invalid_stream_key", i+1, r.status, r.raw)
		}
	}
	if r := a.do("POST", "/whip/stage", "sk_another", "v=0"); r.status != http.StatusTooManyRequests {
		t.Errorf("after %d wrong stream keys: %d %s, want 429", limit, r.status, r.raw)
	}
	// Access tokens are not keys: a token holder at this address is not held up.
	a.must(http.StatusOK, "GET", "/api/v1/rooms/stage", a.tokenFor("host", "stage", access.Host), nil)
}

// TestGuessThrottleWindow checks the window on a fake clock: an address is
// free again once its failures age out, and other addresses never wait.
func TestGuessThrottleWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newGuessThrottle(3, func() time.Time { return now })
	for range 5 {
		g.fail(guessAPIKey, "192.0.2.1")
		now = now.Add(time.Second)
	}
	if w := g.retryAfter(guessAPIKey, "192.0.2.1"); w <= 0 || w > guessWindow {
		t.Errorf("after 5 failures: wait %v, want (0, 1m]", w)
	}
	if w := g.retryAfter(guessStreamKey, "192.0.2.1"); w != 0 {
		t.Errorf("stream keys wait %v after API key failures", w)
	}
	if w := g.retryAfter(guessAPIKey, "192.0.2.2"); w != 0 {
		t.Errorf("another address waits %v", w)
	}
	now = now.Add(guessWindow)
	if w := g.retryAfter(guessAPIKey, "192.0.2.1"); w != 0 {
		t.Errorf("a minute later: wait %v", w)
	}
	if len(g.failures) != 0 {
		t.Errorf("expired failures kept: %v", g.failures)
	}
}
