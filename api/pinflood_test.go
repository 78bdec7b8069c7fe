package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lectern/storage/storagetest"
)

// newProxiedAPI serves an API that believes X-Forwarded-For from loopback,
// as behind a reverse proxy, so a test can send from any address.
func newProxiedAPI(t *testing.T, b storagetest.Backend, edit func(*Config)) *testAPI {
	t.Helper()
	a := newTestAPI(t, b)
	cfg := DefaultConfig()
	cfg.TrustedProxies = []string{"127.0.0.1/32", "::1/128"}
	if edit != nil {
		edit(&cfg)
	}
	log := slog.New(slog.DiscardHandler)
	srv, err := New(cfg, Deps{DB: a.db, Issuer: a.issuer, Registry: prometheus.NewRegistry(), Log: log, SFU: a.media, Chat: startChat(t, a.db, log)})
	if err != nil {
		t.Fatal(err)
	}
	return serveAlso(t, a, srv)
}

// joinFrom sends a PIN join as if from addr (through the trusted proxy).
func joinFrom(ctx context.Context, client *http.Client, a *testAPI, addr, room, pin string) (response, error) {
	body := fmt.Sprintf(`{"pin":%q,"name":"Guest"}`, pin)
	req, err := http.NewRequestWithContext(ctx, "POST", a.url+"/api/v1/rooms/"+room+"/join", strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	res, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	err = json.Unmarshal(raw, &r.body)
	return r, err
}

// mustJoinFrom is joinFrom that expects status and code ("" for success).
func mustJoinFrom(t *testing.T, a *testAPI, addr, room, pin string, status int, code string) response {
	t.Helper()
	r, err := joinFrom(t.Context(), http.DefaultClient, a, addr, room, pin)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != status || r.code() != code {
		t.Fatalf("join %s from %s: %d %s, want %d %q", room, addr, r.status, r.raw, status, code)
	}
	return r
}

// TestPINFloodSlowsButNeverLocks floods one room with wrong PINs from 100
// forged addresses and checks that the room's PIN checks are metered rather
// than shut, that a guest with the right PIN still gets in within seconds,
// that the host's token and websocket are untouched and told of the attack,
// and that a typo streak in one room does not block the same address (a
// shared NAT) in another.
func TestPINFloodSlowsButNeverLocks(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newProxiedAPI(t, b, nil)
		target := a.createRoom(map[string]any{"id": "target", "name": "Target"})
		other := a.createRoom(map[string]any{"id": "other", "name": "Other"})
		host := mustJoinFrom(t, a, "192.0.2.10", "target", target.str("speaker_pin"), http.StatusOK, "").str("token")
		wrong := wrongPIN(target.str("pin"), target.str("speaker_pin"))

		// A shared NAT: five typos in target block its PIN joins there only.
		for range DefaultConfig().JoinFailuresPerAddr {
			mustJoinFrom(t, a, "203.0.113.1", "target", wrong, http.StatusForbidden, codeWrongPIN)
		}
		r := mustJoinFrom(t, a, "203.0.113.1", "target", target.str("pin"), http.StatusTooManyRequests, codeTooManyAttempts)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After: %v", r.header)
		}
		mustJoinFrom(t, a, "203.0.113.1", "other", other.str("pin"), http.StatusOK, "")

		ws := dialRoom(t, a, "target", host)
		if w := ws.next("welcome"); w["room"].(map[string]any)["pin_alert"] != nil {
			t.Fatalf("alert before any flood: %v", w["room"])
		}

		// The flood: 16 workers, 100 addresses, wrong PINs as fast as the server answers.
		var (
			outcomes sync.Map // "status code" -> *atomic.Int64
			sent     atomic.Int64
			wg       sync.WaitGroup
		)
		count := func(key string) *atomic.Int64 {
			v, _ := outcomes.LoadOrStore(key, new(atomic.Int64))
			return v.(*atomic.Int64)
		}
		// A flag, not a context: requests in flight finish and are counted.
		var stopped atomic.Bool
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		defer client.CloseIdleConnections()
		for range 16 {
			wg.Go(func() {
				for !stopped.Load() {
					n := sent.Add(1)
					r, err := joinFrom(t.Context(), client, a, fmt.Sprintf("10.9.%d.%d", n%100/50, n%50), "target", wrong)
					if err != nil {
						t.Errorf("flood request: %v", err)
						return
					}
					count(fmt.Sprint(r.status, " ", r.code())).Add(1)
				}
			})
		}
		ev := ws.next("pin_attack")
		floodStart := time.Now()
		if ev["room"] != "target" || ev["failures"].(float64) < float64(DefaultConfig().JoinFailuresPerRoom) {
			t.Errorf("pin_attack event: %v", ev)
		}
		checkedAtStart := count("403 " + codeWrongPIN).Load()

		// The host's token still works, and its room shows the alert.
		seen := a.must(http.StatusOK, "GET", "/api/v1/rooms/target", host, nil)
		if alert, _ := seen.body["pin_alert"].(map[string]any); alert == nil || alert["failures"].(float64) < 50 {
			t.Errorf("room during the flood: %s", seen.raw)
		}
		if w := dialRoom(t, a, "target", host).next("welcome"); w["room"].(map[string]any)["pin_alert"] == nil {
			t.Errorf("welcome during the flood has no pin_alert: %v", w["room"])
		}

		// A guest from a fresh address with the right PIN gets in within
		// seconds, waiting as Retry-After says.
		guestStart, tries, slowed := time.Now(), 0, 0
		for {
			tries++
			r, err := joinFrom(t.Context(), http.DefaultClient, a, "198.51.100.7", "target", target.str("pin"))
			if err != nil {
				t.Fatal(err)
			}
			if r.status == http.StatusOK {
				break
			}
			if r.status != http.StatusTooManyRequests || r.code() != codePINChecksSlowed {
				t.Fatalf("guest during the flood: %d %s", r.status, r.raw)
			}
			slowed++
			wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
			if wait < 1 || wait > 2 {
				t.Fatalf("guest told to wait %q", r.header.Get("Retry-After"))
			}
			if time.Since(guestStart) > 6*time.Second {
				t.Fatalf("guest still out after %d tries in %v", tries, time.Since(guestStart))
			}
			<-time.After(time.Duration(wait) * time.Second)
		}
		t.Logf("guest in after %d tries in %v", tries, time.Since(guestStart).Round(time.Millisecond))

		// Let the flood run three seconds, then count.
		<-time.After(time.Until(floodStart.Add(3 * time.Second)))
		stopped.Store(true)
		wg.Wait()
		elapsed := time.Since(floodStart)
		got := map[string]int64{}
		outcomes.Range(func(k, v any) bool { got[k.(string)] = v.(*atomic.Int64).Load(); return true })
		for k := range got {
			if k != "403 "+codeWrongPIN && k != "429 "+codePINChecksSlowed && k != "429 "+codeTooManyAttempts {
				t.Errorf("flood answered %q %d times", k, got[k])
			}
		}
		checked := got["403 "+codeWrongPIN]
		// Metered at 1 a second from an empty bucket; up to 16 requests were
		// admitted before the alert and answered after it.
		limit := int64(elapsed.Seconds()*DefaultConfig().FloodPINChecksPerSecond) + 1 + 16
		if checked-checkedAtStart > limit {
			t.Errorf("%d wrong PINs checked in the %v after the alert, want at most %d", checked-checkedAtStart, elapsed, limit)
		}
		t.Logf("flood: %d requests in %v: %v", sent.Load(), elapsed.Round(time.Millisecond), got)
		final := a.must(http.StatusOK, "GET", "/api/v1/rooms/target", a.adminKey, nil)
		alert, _ := final.body["pin_alert"].(map[string]any)
		if alert == nil || int64(alert["failures"].(float64)) != checked+5 || int64(alert["refused"].(float64)) != got["429 "+codePINChecksSlowed]+int64(slowed) {
			t.Errorf("alert %v, want failures %d, refused %d", alert, checked+5, got["429 "+codePINChecksSlowed]+int64(slowed))
		}
		// The other room never noticed.
		if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/other", a.adminKey, nil); r.body["pin_alert"] != nil {
			t.Errorf("other room: %s", r.raw)
		}
	})
}

// TestRoomLock locks a room against PIN joins as its host: PINs get
// room_locked, tokens keep working, and the lock is stored.
func TestRoomLock(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		room := a.createRoom(map[string]any{"id": "lockable", "name": "Lockable"})
		if room.body["locked"] != false {
			t.Fatalf("new room: %s", room.raw)
		}
		host := a.must(http.StatusOK, "POST", "/api/v1/rooms/lockable/join", "", map[string]any{"pin": room.str("speaker_pin"), "name": "Host"}).str("token")
		guest := a.must(http.StatusOK, "POST", "/api/v1/rooms/lockable/join", "", map[string]any{"pin": room.str("pin"), "name": "Guest"}).str("token")
		if r := a.do("PATCH", "/api/v1/rooms/lockable", guest, map[string]any{"locked": true}); r.status != http.StatusForbidden || r.code() != codePermissionDenied {
			t.Errorf("guest locks: %d %s", r.status, r.raw)
		}
		if r := a.do("PATCH", "/api/v1/rooms/lockable", host, map[string]any{"locked": true, "name": "Mine"}); r.status != http.StatusForbidden || r.code() != codeAdminRequired {
			t.Errorf("host renames: %d %s", r.status, r.raw)
		}
		if r := a.must(http.StatusOK, "PATCH", "/api/v1/rooms/lockable", host, map[string]any{"locked": true}); r.body["locked"] != true || r.str("name") != "Lockable" {
			t.Errorf("host locks: %s", r.raw)
		}
		for _, pin := range []string{room.str("pin"), room.str("speaker_pin"), wrongPIN(room.str("pin"), room.str("speaker_pin"))} {
			r := a.do("POST", "/api/v1/rooms/lockable/join", "", map[string]any{"pin": pin, "name": "Late"})
			if r.status != http.StatusLocked || r.code() != codeRoomLocked {
				t.Errorf("PIN join to a locked room: %d %s", r.status, r.raw)
			}
		}
		// Tokens work: REST, and room websockets of host and guest.
		if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/lockable", guest, nil); r.body["locked"] != true {
			t.Errorf("guest's view: %s", r.raw)
		}
		if w := dialRoom(t, a, "lockable", host).next("welcome"); w["room"].(map[string]any)["locked"] != true {
			t.Errorf("host's welcome: %v", w["room"])
		}
		dialRoom(t, a, "lockable", guest).next("welcome")
		// The host rotates the PINs (one click from the alert), then an admin unlocks.
		rotated := a.must(http.StatusOK, "POST", "/api/v1/rooms/lockable/pins", host, nil)
		if rotated.str("pin") == room.str("pin") || rotated.str("speaker_pin") == room.str("speaker_pin") {
			t.Errorf("PINs not rotated: %s", rotated.raw)
		}
		if r := a.do("POST", "/api/v1/rooms/lockable/pins", guest, nil); r.status != http.StatusForbidden {
			t.Errorf("guest rotates: %d %s", r.status, r.raw)
		}
		a.must(http.StatusOK, "PATCH", "/api/v1/rooms/lockable", a.adminKey, map[string]any{"locked": false})
		a.must(http.StatusOK, "POST", "/api/v1/rooms/lockable/join", "", map[string]any{"pin": rotated.str("pin"), "name": "Late"})
		if r := a.do("POST", "/api/v1/rooms/lockable/join", "", map[string]any{"pin": room.str("pin"), "name": "Late"}); r.status != http.StatusForbidden || r.code() != codeWrongPIN {
			t.Errorf("old PIN after rotation: %d %s", r.status, r.raw)
		}
	})
}

// TestJoinsPerAddressAreLimited: right PINs too, since each join mints an identity.
func TestJoinsPerAddressAreLimited(t *testing.T) {
	a := newProxiedAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()}, func(c *Config) { c.JoinsPerAddr = 3 })
	room := a.createRoom(map[string]any{"id": "busy", "name": "Busy"})
	for range 3 {
		mustJoinFrom(t, a, "192.0.2.50", "busy", room.str("pin"), http.StatusOK, "")
	}
	r := mustJoinFrom(t, a, "192.0.2.50", "busy", room.str("pin"), http.StatusTooManyRequests, codeTooManyJoins)
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 59 || ra > 60 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	mustJoinFrom(t, a, "192.0.2.51", "busy", room.str("pin"), http.StatusOK, "")
}
