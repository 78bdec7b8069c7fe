package api

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"lectern/access"
	"lectern/storage/storagetest"
)

func TestParticipantTokenCannotAdmin(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		room := a.createRoom(map[string]any{"id": "r1", "name": "R1"})
		host := a.must(http.StatusOK, "POST", "/api/v1/rooms/r1/join", "", map[string]any{"pin": room.str("speaker_pin"), "name": "Host"})
		tok := host.str("token")
		for _, rt := range []struct{ method, path string }{
			{"GET", "/api/v1/rooms"},
			{"POST", "/api/v1/rooms"},
			{"PATCH", "/api/v1/rooms/r1"},
			{"DELETE", "/api/v1/rooms/r1"},
			{"POST", "/api/v1/tokens"},
		} {
			r := a.do(rt.method, rt.path, tok, `{"name":"Mine"}`)
			if r.status != http.StatusForbidden || r.code() != "admin_required" {
				t.Errorf("%s %s with a host token: %d %s", rt.method, rt.path, r.status, r.raw)
			}
		}
		if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/r1", a.adminKey, nil); r.str("name") != "R1" || r.str("pin") != room.str("pin") {
			t.Errorf("room changed by a refused request: %s", r.raw)
		}
		if r := a.do("GET", "/api/v1/rooms", "", nil); r.status != 401 || r.code() != "unauthorized" {
			t.Errorf("no credentials: %d %s", r.status, r.raw)
		}
		if r := a.do("GET", "/api/v1/rooms", "lk_not-a-key", nil); r.status != 401 || r.code() != "invalid_api_key" {
			t.Errorf("bad API key: %d %s", r.status, r.raw)
		}
	})
}

func TestBadTokensAreRefused(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		a.createRoom(map[string]any{"id": "mine", "name": "Mine"})
		a.createRoom(map[string]any{"id": "theirs", "name": "Theirs"})
		now := time.Now()
		good := access.Claims{Identity: "ann", Rooms: map[string]access.Grant{"mine": {Permissions: access.Host}}, ExpiresAt: now.Add(time.Hour)}
		tok := a.sign(good)
		a.must(http.StatusOK, "GET", "/api/v1/rooms/mine", tok, nil)

		expired := good
		expired.IssuedAt, expired.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
		parts := strings.Split(tok, ".")
		other, _ := access.NewIssuer([]byte(strings.Repeat("z", 32)))
		foreign, _ := other.Sign(access.Claims{ID: "x", Identity: "ann", Rooms: good.Rooms, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"ann"`, `"root"`, 1)))
		cases := []struct {
			name, token, path, code string
		}{
			{"expired", a.sign(expired), "/api/v1/rooms/mine", "token_expired"},
			{"tampered payload", parts[0] + "." + forged + "." + parts[2], "/api/v1/rooms/mine", "token_invalid"},
			{"other key", foreign, "/api/v1/rooms/mine", "token_invalid"},
			{"wrong room", tok, "/api/v1/rooms/theirs", "token_wrong_room"},
			{"wrong room members", tok, "/api/v1/rooms/theirs/members", "token_wrong_room"},
			{"malformed", "not.a.jwt", "/api/v1/rooms/mine", "token_malformed"},
			{"two parts", parts[0] + "." + parts[1] + ".", "/api/v1/rooms/mine", "token_invalid"},
		}
		for _, tc := range cases {
			r := a.do("GET", tc.path, tc.token, nil)
			if r.status != http.StatusUnauthorized || r.code() != tc.code {
				t.Errorf("%s: %d %s, want 401 %s", tc.name, r.status, r.raw, tc.code)
			}
		}
	})
}
