package api

import (
	"net/http"
	"testing"
	"time"

	"lectern/access"
	"lectern/storage/storagetest"
)

// TestLiveRoomsOverREST drives a live room from a backend: list who is in it
// and what they publish, mute a track, remove someone with a reason the
// client is shown, list the live rooms; bad input changes nothing.
func TestLiveRoomsOverREST(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "live", "name": "Live"})
	hostToken := a.tokenFor("host", "live", access.Host)
	memberToken := a.tokenFor("member", "live", access.Member)
	host := dialRoom(t, a, "live", hostToken)
	host.next("welcome")
	member := dialRoom(t, a, "live", memberToken)
	member.next("welcome")
	host.publish("camera")
	member.waitMedia("camera")
	camera := member.next("track_published")["track"].(map[string]any)["id"].(string)

	base := "/api/v1/rooms/live/participants"
	list := a.must(http.StatusOK, "GET", base, a.adminKey, nil)
	ps, _ := list.body["participants"].([]any)
	if len(ps) != 2 {
		t.Fatalf("participants: %s", list.raw)
	}
	seen := map[string]map[string]any{}
	for _, p := range ps {
		m := p.(map[string]any)
		seen[m["identity"].(string)] = m
		at, err := time.Parse(time.RFC3339Nano, m["joined_at"].(string))
		if err != nil || time.Since(at) > time.Minute || time.Since(at) < 0 {
			t.Errorf("%s joined_at %v (%v)", m["identity"], m["joined_at"], err)
		}
	}
	tracks, _ := seen["host"]["tracks"].([]any)
	if len(tracks) != 1 || tracks[0].(map[string]any)["source"] != "camera" || tracks[0].(map[string]any)["codec"] != "vp8" {
		t.Errorf("host's tracks: %v", seen["host"]["tracks"])
	}
	if seen["member"] == nil {
		t.Fatalf("member missing: %s", list.raw)
	}
	// The member receives the host's camera: its downlink says so.
	dl, _ := seen["member"]["downlink"].(map[string]any)
	switch {
	case dl == nil:
		t.Errorf("the member's downlink is missing: %s", list.raw)
	case dl["videos"] != 1.0 || dl["paused_videos"] != 0.0:
		t.Errorf("the member's downlink: %v, want 1 video, none paused", dl)
	case dl["feedback"] != "twcc" && dl["feedback"] != "remb" && dl["feedback"] != "none":
		t.Errorf("the member's downlink feedback: %v", dl["feedback"])
	}
	if est, _ := dl["estimate_bps"].(float64); est < 0 {
		t.Errorf("negative estimate: %v", dl)
	}
	// A moderator's token may; a member's may not; a stranger room is 404.
	a.must(http.StatusOK, "GET", base, hostToken, nil)
	if r := a.do("GET", base, memberToken, nil); r.status != http.StatusForbidden {
		t.Errorf("member lists participants: %d %s", r.status, r.raw)
	}
	if r := a.do("GET", "/api/v1/rooms/nowhere/participants", a.adminKey, nil); r.code() != codeRoomNotFound {
		t.Errorf("unknown room: %d %s", r.status, r.raw)
	}
	if r := a.must(http.StatusOK, "GET", base+"/host", a.adminKey, nil); r.str("identity") != "host" || r.str("id") == "" {
		t.Errorf("one participant: %s", r.raw)
	}
	if r := a.do("GET", base+"/nobody", a.adminKey, nil); r.status != http.StatusNotFound || r.code() != codeParticipantNotFound {
		t.Errorf("absent participant: %d %s", r.status, r.raw)
	}

	// Mute the host's camera: everyone hears of it.
	if r := a.do("PATCH", base+"/host/tracks/"+camera, a.adminKey, map[string]any{}); r.status != http.StatusBadRequest {
		t.Errorf("PATCH without muted: %d %s", r.status, r.raw)
	}
	if r := a.do("PATCH", base+"/member/tracks/"+camera, a.adminKey, map[string]any{"muted": true}); r.code() != codeTrackNotFound {
		t.Errorf("someone else's track: %d %s", r.status, r.raw)
	}
	if r := a.must(http.StatusOK, "PATCH", base+"/host/tracks/"+camera, a.adminKey, map[string]any{"muted": true}); r.body["muted"] != true {
		t.Errorf("mute: %s", r.raw)
	}
	if upd := member.next("track_updated"); upd["track"].(map[string]any)["muted"] != true {
		t.Errorf("track_updated: %v", upd)
	}

	// A reason that is not plain text is refused, and the member stays.
	bad := map[string]any{"reason": "see adm\u202eexe.png"}
	if r := a.do("DELETE", base+"/member", a.adminKey, bad); r.status != http.StatusBadRequest || r.code() != codeInvalidReason {
		t.Errorf("bad reason: %d %s", r.status, r.raw)
	}
	a.must(http.StatusOK, "GET", base+"/member", a.adminKey, nil)
	a.must(http.StatusNoContent, "DELETE", base+"/member", a.adminKey, map[string]any{"reason": "Thanks for coming"})
	if ev := member.next("removed"); ev["reason"] != "Thanks for coming" {
		t.Errorf("removed event: %v", ev)
	}
	if r := a.must(http.StatusOK, "GET", base, a.adminKey, nil); len(r.body["participants"].([]any)) != 1 {
		t.Errorf("after removal: %s", r.raw)
	}

	live := a.must(http.StatusOK, "GET", "/api/v1/live", a.adminKey, nil)
	rooms, _ := live.body["rooms"].([]any)
	if len(rooms) != 1 || rooms[0].(map[string]any)["id"] != "live" || rooms[0].(map[string]any)["participants"] != float64(1) {
		t.Errorf("live rooms: %s", live.raw)
	}
	if r := a.do("GET", "/api/v1/live", hostToken, nil); r.status == http.StatusOK {
		t.Errorf("a room token lists every live room: %s", r.raw)
	}
}

// TestSecondSessionReplacesTheFirst: the same identity opening the room
// socket again (another tab) replaces its first session, which is told why
// and closed; the roster has it once.
func TestSecondSessionReplacesTheFirst(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "dup", "name": "Dup"})
	token := a.tokenFor("ada", "dup", access.Host)
	first := dialRoom(t, a, "dup", token)
	first.next("welcome")
	second := dialRoom(t, a, "dup", token)
	second.next("welcome")
	if ev := first.next("replaced"); ev["reason"] == "" {
		t.Errorf("replaced event: %v", ev)
	}
	// The first socket closes: its message channel ends.
	deadline := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-first.in:
		case <-deadline:
			t.Fatal("the replaced socket stayed open")
		}
	}
	ps := a.must(http.StatusOK, "GET", "/api/v1/rooms/dup/participants", a.adminKey, nil).body["participants"].([]any)
	if len(ps) != 1 {
		t.Errorf("ada is in the room %d times", len(ps))
	}
	second.send(map[string]any{"type": "ping", "id": "p"})
	second.next("pong")
}
