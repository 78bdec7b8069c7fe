package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rtspAsk sends one RTSP request for room on a new connection, with query
// after the path and an Authorization header when auth is set, and returns
// the answer's status code.
func rtspAsk(t *testing.T, base, method, room, query, auth, body string) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := method + " " + base + "/" + room + query + " RTSP/1.0\r\nCSeq: 1\r\n"
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	if body != "" {
		req += fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n", len(body))
	}
	if _, err := conn.Write([]byte(req + "\r\n" + body)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	var code int
	if _, err := fmt.Sscanf(line, "RTSP/1.0 %d", &code); err != nil {
		t.Fatalf("%s: status line %q", method, line)
	}
	return code
}

// TestAttackRTSP is the RTSP part of the attack suite (api/attack_*_test.go
// hold the HTTP and websocket parts): DESCRIBE (subscribe) and ANNOUNCE
// (publish) of room r with each credential an attacker may hold. Nothing is
// published, so a reader who passes gets 404; an encoder who passes, 200.
func TestAttackRTSP(t *testing.T) {
	// Wrong credentials on RTSP count as stream-key guesses; the suite
	// sends many on purpose (TestRTSPStreamKeyGuessesThrottled tests the limit).
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir(), "LECTERN_KEY_FAILURES_PER_ADDR": "100000"})
	defer stop()
	key := keyLine.FindStringSubmatch(banner)[1]
	base := rtspLine.FindStringSubmatch(banner)[1]
	api := func(method, path, body string, want int) map[string]any {
		t.Helper()
		code, m := call(t, method, url+path, key, body)
		if code != want {
			t.Fatalf("%s %s: %d, want %d (%v)", method, path, code, want, m)
		}
		return m
	}
	api("POST", "/api/v1/rooms", `{"id":"r","name":"R"}`, 201)
	api("POST", "/api/v1/rooms", `{"id":"other","name":"Other"}`, 201)
	streamKey, _ := api("POST", "/api/v1/rooms/r/stream-key", "", 201)["stream_key"].(string)
	mint := func(identity, room, perms string) map[string]any {
		t.Helper()
		return api("POST", "/api/v1/tokens", `{"identity":"`+identity+`","rooms":{"`+room+`":{"permissions":[`+perms+`]}}}`, 201)
	}
	token := func(identity, perms string) string { s, _ := mint(identity, "r", perms)["token"].(string); return s }
	all := `"publish","subscribe","list","send","receive","moderate"`

	revoked := mint("revoked", "r", all)
	api("DELETE", "/api/v1/tokens/"+revoked["token_id"].(string), "", 204)
	api("POST", "/api/v1/rooms/r/members", `{"identity":"gone","preset":"host"}`, 201)
	gone := token("gone", all)
	api("DELETE", "/api/v1/rooms/r/members/gone", "", 204)
	banned := token("banned", all)
	api("PUT", "/api/v1/rooms/r/bans/banned", `{"seconds":600}`, 200)
	viewer := token("viewer", `"subscribe","receive"`)
	wrongRoom, _ := mint("elsewhere", "other", all)["token"].(string)
	host := token("host", all)

	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	const (
		describeOK = 404 // nothing is published
		announceOK = 200
	)
	cases := []struct {
		name, query, auth  string
		describe, announce int
	}{
		{"none", "", "", 401, 401},
		{"admin key as token", "?token=" + key, "", 401, 401},
		{"admin key as password", "", basic("admin", key), 401, 401},
		{"stream key", "", basic("encoder", streamKey), 403, announceOK},
		{"wrong stream key", "", basic("encoder", "sk_"+strings.Repeat("0", 32)), 401, 401},
		{"host", "?token=" + host, "", describeOK, announceOK},
		{"host, as Basic password", "", basic("x", host), describeOK, announceOK},
		{"viewer", "?token=" + viewer, "", describeOK, 403},
		{"publish only", "?token=" + token("p-only", `"publish"`), "", 403, announceOK},
		{"subscribe only", "?token=" + token("s-only", `"subscribe"`), "", describeOK, 403},
		{"moderate only", "?token=" + token("m-only", `"moderate"`), "", 403, 403},
		{"no permissions", "?token=" + token("nothing", ""), "", 403, 403},
		{"revoked token", "?token=" + revoked["token"].(string), "", 401, 401},
		{"deleted member", "?token=" + gone, "", 401, 401},
		{"banned identity", "?token=" + banned, "", 401, 401},
		{"wrong room", "?token=" + wrongRoom, "", 401, 401},
		{"tampered signature", "?token=" + host[:len(host)-20] + "AAAA" + host[len(host)-16:], "", 401, 401},
		{"forged claims", "?token=" + forgeRooms(t, viewer, `{"r":{"p":"publish,subscribe"}}`), "", 401, 401},
		{"alg none", "?token=" + noneToken(t), "", 401, 401},
	}
	// Every DESCRIBE first: a reader who passes while an announced encoder
	// is still in the room waits for its video (up to 10 s) before the 404.
	for _, tc := range cases {
		if got := rtspAsk(t, base, "DESCRIBE", "r", tc.query, tc.auth, ""); got != tc.describe {
			t.Errorf("DESCRIBE as %s: %d, want %d", tc.name, got, tc.describe)
		}
	}
	for _, tc := range cases {
		if got := rtspAsk(t, base, "ANNOUNCE", "r", tc.query, tc.auth, announceSDP); got != tc.announce {
			t.Errorf("ANNOUNCE as %s: %d, want %d", tc.name, got, tc.announce)
		}
	}
	// Room r's stream key opens nothing in room other.
	if got := rtspAsk(t, base, "ANNOUNCE", "other", "", basic("encoder", streamKey), announceSDP); got != 401 {
		t.Errorf("ANNOUNCE to other with r's stream key: %d, want 401", got)
	}
}

// forgeRooms replaces a token's rooms claim, keeping its signature.
func forgeRooms(t *testing.T, tok, rooms string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m["rooms"] = json.RawMessage(rooms)
	data, _ := json.Marshal(m)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(data) + "." + parts[2]
}

// noneToken is an unsigned host token for room r ({"alg":"none"}).
func noneToken(t *testing.T) string {
	t.Helper()
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{"iss": "lectern", "sub": "anyone", "jti": "x", "iat": now.Unix() - 60,
		"exp": now.Unix() + 3600, "rooms": map[string]any{"r": map[string]any{"p": "publish,subscribe,moderate"}}})
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(claims) + "."
}
