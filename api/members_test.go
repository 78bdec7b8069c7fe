package api

import (
	"net/http"
	"testing"

	"lectern/access"
	"lectern/storage/storagetest"
)

func TestMembers(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		a.createRoom(map[string]any{"id": "w", "name": "Webinar", "mode": "webinar", "tier": "fhd"})

		alice := a.must(http.StatusCreated, "POST", "/api/v1/rooms/w/members", a.adminKey,
			map[string]any{"identity": "alice", "name": "Alice", "preset": "host", "tier": "hd"})
		if perms(t, alice.body["permissions"]) != access.Host || alice.str("tier") != "hd" || alice.str("name") != "Alice" {
			t.Fatalf("alice = %s", alice.raw)
		}
		// Without a choice, a webinar member is a viewer.
		bob := a.must(http.StatusCreated, "POST", "/api/v1/rooms/w/members", a.adminKey, map[string]any{"identity": "bob"})
		if perms(t, bob.body["permissions"]) != access.Viewer || bob.str("name") != "bob" {
			t.Errorf("bob = %s", bob.raw)
		}
		for _, bad := range []map[string]any{
			{"identity": "alice"},
			{"identity": "has space"},
			{"identity": "carol", "tier": "4k"},
			{"identity": "carol", "preset": "god"},
			{"identity": "carol", "preset": "host", "permissions": []string{"publish"}},
			{"identity": "carol", "permissions": []string{"teleport"}},
		} {
			if r := a.do("POST", "/api/v1/rooms/w/members", a.adminKey, bad); r.status/100 != 4 || r.code() == "" {
				t.Errorf("%v: %d %s", bad, r.status, r.raw)
			}
		}

		// A moderator's token manages members; a viewer's does not.
		host := a.mint("alice", map[string]any{"w": map[string]any{}})
		up := a.must(http.StatusOK, "PATCH", "/api/v1/rooms/w/members/bob", host,
			map[string]any{"permissions": map[string]bool{"subscribe": true, "receive": true, "send": true}})
		if perms(t, up.body["permissions"]) != access.Viewer|access.Send {
			t.Errorf("bob updated = %s", up.raw)
		}
		viewer := a.mint("bob", map[string]any{"w": map[string]any{}})
		if r := a.do("GET", "/api/v1/rooms/w/members", viewer, nil); r.status != 403 || r.code() != "permission_denied" {
			t.Errorf("viewer lists members: %d %s", r.status, r.raw)
		}
		list := a.must(http.StatusOK, "GET", "/api/v1/rooms/w/members", host, nil)
		if ms := list.body["members"].([]any); len(ms) != 2 {
			t.Errorf("members = %s", list.raw)
		}
		a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/w/members/bob", a.adminKey, nil)
		if r := a.do("GET", "/api/v1/rooms/w/members/bob", a.adminKey, nil); r.status != 404 || r.code() != "member_not_found" {
			t.Errorf("deleted member: %d %s", r.status, r.raw)
		}
		if r := a.do("GET", "/api/v1/rooms/nope/members", a.adminKey, nil); r.status != 404 || r.code() != "room_not_found" {
			t.Errorf("members of a missing room: %d %s", r.status, r.raw)
		}
	})
}

func TestMintedTokens(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "big", "name": "Big", "mode": "webinar", "tier": "fhd"})
	a.createRoom(map[string]any{"id": "small", "name": "Small", "tier": "sd"})
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/big/members", a.adminKey,
		map[string]any{"identity": "kim", "preset": "speaker", "tier": "hd"})

	r := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{
		"identity": "kim", "name": "Kim", "ttl_seconds": 600,
		"rooms": map[string]any{"big": map[string]any{}, "small": map[string]any{"preset": "viewer"}},
	})
	claims, err := a.issuer.Verify(r.str("token"))
	if err != nil {
		t.Fatal(err)
	}
	if g := claims.Rooms["big"]; g.Permissions != access.Speaker || g.Tier != access.HD {
		t.Errorf("big grant = %+v (the member record should apply)", g)
	}
	if g := claims.Rooms["small"]; g.Permissions != access.Viewer || g.Tier != access.SD {
		t.Errorf("small grant = %+v", g)
	}
	if claims.Name != "Kim" || claims.ExpiresAt.Sub(claims.IssuedAt).Seconds() != 600 {
		t.Errorf("claims = %+v", claims)
	}
	for _, bad := range []map[string]any{
		{"identity": "kim", "rooms": map[string]any{"missing": map[string]any{}}},
		{"identity": "kim", "rooms": map[string]any{}},
		{"identity": "", "rooms": map[string]any{"big": map[string]any{}}},
		{"identity": "kim", "ttl_seconds": 5, "rooms": map[string]any{"big": map[string]any{}}},
		{"identity": "kim", "rooms": map[string]any{"small": map[string]any{"tier": "fhd"}}},
	} {
		if r := a.do("POST", "/api/v1/tokens", a.adminKey, bad); r.status/100 != 4 || r.code() == "" {
			t.Errorf("%v: %d %s", bad, r.status, r.raw)
		}
	}
}

// mint asks the API for a token for identity in rooms.
func (a *testAPI) mint(identity string, rooms map[string]any) string {
	a.t.Helper()
	r := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{"identity": identity, "rooms": rooms})
	return r.str("token")
}
