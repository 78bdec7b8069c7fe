package api

import (
	"net/http"
	"strings"
	"testing"

	"lectern/access"
	"lectern/storage/storagetest"
)

func TestWebinarJoin(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		room := a.createRoom(map[string]any{"id": "weekly", "name": "Weekly update", "mode": "webinar", "tier": "fhd"})
		if room.str("mode") != "webinar" || room.str("tier") != "fhd" || room.str("id") != "weekly" {
			t.Fatalf("room = %s", room.raw)
		}
		pin, speakerPIN := room.str("pin"), room.str("speaker_pin")
		if len(pin) < 8 || len(speakerPIN) < 8 || pin == speakerPIN {
			t.Fatalf("pins %q, %q", pin, speakerPIN)
		}

		viewer := a.must(http.StatusOK, "POST", "/api/v1/rooms/weekly/join", "", map[string]any{"pin": pin, "name": "Ada"})
		if p := perms(t, viewer.body["permissions"]); p.Has(access.Publish) || p != access.Viewer {
			t.Errorf("audience permissions = %v", p)
		}
		claims, err := a.issuer.Verify(viewer.str("token"))
		if err != nil {
			t.Fatal(err)
		}
		if g, _ := claims.Grant("weekly"); g.Permissions.Has(access.Publish) || g.Tier != access.FHD || claims.Name != "Ada" {
			t.Errorf("audience token = %+v", claims)
		}
		// The token works on the room, and does not show the PINs to a viewer.
		seen := a.must(http.StatusOK, "GET", "/api/v1/rooms/weekly", viewer.str("token"), nil)
		if seen.str("pin") != "" || seen.str("speaker_pin") != "" || seen.str("name") != "Weekly update" {
			t.Errorf("viewer sees %s", seen.raw)
		}

		// The speaker PIN is the host's: it publishes and moderates.
		speaker := a.must(http.StatusOK, "POST", "/api/v1/rooms/weekly/join", "", map[string]any{"pin": speakerPIN, "name": "Grace"})
		want := access.Publish | access.Subscribe | access.List | access.Send | access.Receive | access.Moderate
		if p := perms(t, speaker.body["permissions"]); p != want {
			t.Errorf("speaker permissions = %v, want %v", p, want)
		}

		wrong := a.must(http.StatusForbidden, "POST", "/api/v1/rooms/weekly/join", "", map[string]any{"pin": "00000000", "name": "Eve"})
		if wrong.code() != "wrong_pin" || wrong.str("message") == "" {
			t.Errorf("wrong PIN = %s", wrong.raw)
		}
	})
}

func TestConferenceJoinGivesMembersAndHost(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	room := a.createRoom(map[string]any{"name": "Stand-up"})
	if room.str("mode") != "conference" || room.str("tier") != "hd" {
		t.Fatalf("defaults: %s", room.raw)
	}
	id := room.str("id")
	member := a.must(http.StatusOK, "POST", "/api/v1/rooms/"+id+"/join", "", map[string]any{"pin": room.str("pin"), "name": "Ann"})
	if p := perms(t, member.body["permissions"]); p != access.Member {
		t.Errorf("member = %v", p)
	}
	host := a.must(http.StatusOK, "POST", "/api/v1/rooms/"+id+"/join", "", map[string]any{"pin": room.str("speaker_pin"), "name": "Bob"})
	if p := perms(t, host.body["permissions"]); p != access.Host {
		t.Errorf("host = %v", p)
	}
	// A moderator sees the PINs to share them.
	if seen := a.must(http.StatusOK, "GET", "/api/v1/rooms/"+id, host.str("token"), nil); seen.str("pin") != room.str("pin") {
		t.Errorf("host sees %s", seen.raw)
	}
}

func TestWrongPINsAreThrottled(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		room := a.createRoom(map[string]any{"id": "guarded", "name": "Guarded"})
		for i := range DefaultConfig().JoinFailuresPerAddr {
			r := a.do("POST", "/api/v1/rooms/guarded/join", "", map[string]any{"pin": "1", "name": "Eve"})
			if r.status != http.StatusForbidden {
				t.Fatalf("attempt %d: %d %s", i, r.status, r.raw)
			}
		}
		// Even the right PIN is refused now: the address is locked out for a while.
		r := a.do("POST", "/api/v1/rooms/guarded/join", "", map[string]any{"pin": room.str("pin"), "name": "Eve"})
		if r.status != http.StatusTooManyRequests || r.code() != "too_many_attempts" || r.header.Get("Retry-After") == "" {
			t.Fatalf("after failures: %d %s (Retry-After %q)", r.status, r.raw, r.header.Get("Retry-After"))
		}
	})
}

func TestInvalidRoomsStoreNothing(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		cases := []struct {
			body   string
			status int
			code   string
			field  string
		}{
			{`{"name":"X","mode":"lecture"}`, 400, "invalid_room", "mode"},
			{`{"name":"X","tier":"8k"}`, 400, "invalid_room", "tier"},
			{`{"name":""}`, 400, "invalid_room", "name"},
			{`{"name":"   "}`, 400, "invalid_room", "name"},
			{`{"mode":"webinar"}`, 400, "invalid_room", "name"},
			{`{"name":"X","id":"Has Spaces"}`, 400, "invalid_room", "id"},
			{`{"name":"X","id":"-lead"}`, 400, "invalid_room", "id"},
			{`{"name":"X","colour":"red"}`, 400, "invalid_json", "colour"},
			{`{"name":"X","broadcast":{"hls":"yes"}}`, 400, "invalid_json", "hls"},
			{`{"name":`, 400, "invalid_json", ""},
			{``, 400, "invalid_json", ""},
			{`{"name":"X"} {"name":"Y"}`, 400, "invalid_json", ""},
			{`{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body_too_large", ""},
		}
		for _, tc := range cases {
			r := a.do("POST", "/api/v1/rooms", a.adminKey, tc.body)
			if r.status != tc.status || r.code() != tc.code || !strings.Contains(r.str("message"), tc.field) {
				t.Errorf("%.60s: %d %s, want %d %s naming %q", tc.body, r.status, r.raw, tc.status, tc.code, tc.field)
			}
		}
		list := a.must(http.StatusOK, "GET", "/api/v1/rooms", a.adminKey, nil)
		if rooms := list.body["rooms"].([]any); len(rooms) != 0 {
			t.Errorf("invalid bodies stored rooms: %s", list.raw)
		}
		// A bad update changes nothing either.
		a.createRoom(map[string]any{"id": "keep", "name": "Keep", "tier": "sd"})
		a.must(http.StatusBadRequest, "PATCH", "/api/v1/rooms/keep", a.adminKey, map[string]any{"name": "New", "tier": "huge"})
		if got := a.must(http.StatusOK, "GET", "/api/v1/rooms/keep", a.adminKey, nil); got.str("name") != "Keep" || got.str("tier") != "sd" {
			t.Errorf("after a refused update: %s", got.raw)
		}
	})
}

func TestRoomLifecycle(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	room := a.createRoom(map[string]any{"id": "demo", "name": "Demo", "broadcast": map[string]any{"hls": true}})
	if room.header.Get("Location") != "/api/v1/rooms/demo" {
		t.Errorf("Location = %q", room.header.Get("Location"))
	}
	a.must(http.StatusConflict, "POST", "/api/v1/rooms", a.adminKey, map[string]any{"id": "demo", "name": "Again"})

	up := a.must(http.StatusOK, "PATCH", "/api/v1/rooms/demo", a.adminKey, map[string]any{
		"name": "Demo day", "mode": "webinar", "tier": "4k", "broadcast": map[string]any{"record": true}})
	bc := up.body["broadcast"].(map[string]any)
	if up.str("name") != "Demo day" || up.str("mode") != "webinar" || up.str("tier") != "4k" || bc["hls"] != true || bc["record"] != true {
		t.Errorf("updated = %s", up.raw)
	}
	if up.str("pin") != room.str("pin") {
		t.Error("an update changed the PIN")
	}

	rotated := a.must(http.StatusOK, "POST", "/api/v1/rooms/demo/pins", a.adminKey, nil)
	if rotated.str("pin") == room.str("pin") || rotated.str("speaker_pin") == room.str("speaker_pin") {
		t.Errorf("rotation kept a PIN: %s", rotated.raw)
	}
	old := a.do("POST", "/api/v1/rooms/demo/join", "", map[string]any{"pin": room.str("pin"), "name": "Late"})
	if old.status != http.StatusForbidden {
		t.Errorf("old PIN after rotation: %d", old.status)
	}
	a.must(http.StatusOK, "POST", "/api/v1/rooms/demo/join", "", map[string]any{"pin": rotated.str("pin"), "name": "Late"})
	only := a.must(http.StatusOK, "POST", "/api/v1/rooms/demo/pins", a.adminKey, map[string]any{"which": "speaker_pin"})
	if only.str("pin") != rotated.str("pin") || only.str("speaker_pin") == rotated.str("speaker_pin") {
		t.Errorf("speaker-only rotation: %s", only.raw)
	}

	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/demo", a.adminKey, nil)
	if r := a.do("GET", "/api/v1/rooms/demo", a.adminKey, nil); r.status != 404 || r.code() != "room_not_found" {
		t.Errorf("after delete: %d %s", r.status, r.raw)
	}
	if r := a.do("DELETE", "/api/v1/rooms/demo", a.adminKey, nil); r.status != 404 {
		t.Errorf("second delete: %d", r.status)
	}
}
