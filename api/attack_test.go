package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/hls/record"
	"lectern/storage/objstore"
	"lectern/storage/storagetest"
)

// The attack suite (issue 16, points 8 and 9; docs/security.md "The attack
// suite"): every registered route is classified by who may pass it
// (attack_matrix_test.go), and each route is asked by every kind of
// credential an attacker may hold, from outside: real HTTP, real websockets,
// real WHIP and WHEP offers. This file holds the server and the credentials.

// attackSecret keys the HLS sessions and recording URLs of the suite's
// server (withRecorder), so that the suite can forge and sign them.
var attackSecret = bytes.Repeat([]byte{3}, 32)

// attackAPI is the server under attack: two conference rooms, r and other,
// a recorder, and every credential of attackCredentials.
type attackAPI struct {
	*testAPI
	creds []credential
	// guest is the PIN guest's join answer (its permissions come from the room).
	guestPerms access.Permissions
}

// newAttackAPI serves the API with a recorder and HLS on attackSecret. Wrong
// keys are not throttled here (key_failures_per_addr is huge): the suite sends
// hundreds from one address on purpose, and guesses_test.go tests the limit.
func newAttackAPI(t *testing.T, b storagetest.Backend) *attackAPI {
	t.Helper()
	store, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var rec *record.Recorder
	var deps Deps
	base := newTestAPI(t, b, withRecorder(t, store, &rec), func(d *Deps) { deps = *d })
	cfg := DefaultConfig()
	cfg.KeyFailuresPerAddr = 1 << 20
	deps.Registry = prometheus.NewRegistry()
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	a := &attackAPI{testAPI: serveAlso(t, base, srv)}
	a.createRoom(map[string]any{"id": "r", "name": "R"})
	a.createRoom(map[string]any{"id": "other", "name": "Other"})
	a.creds = a.attackCredentials()
	return a
}

// credKind is what an attacker holds, as the gates tell them apart.
type credKind int

const (
	credNone           credKind = iota
	credAdmin                   // the API key
	credWrongKey                // something that is not an API key
	credStreamKey               // room r's stream key
	credWrongStreamKey          // sk_ and random text
	credToken                   // a valid token for room r with perms
	credRevoked                 // revoked by its ID
	credDeleted                 // of a member since deleted
	credBanned                  // of an identity banned from r
	credExpired                 // past its exp
	credWrongRoom               // valid, for room other only
	credBadSignature            // tampered, forged, alg none, another key
)

// credential is one thing an attacker may send as its bearer credential.
type credential struct {
	name  string
	kind  credKind
	perms access.Permissions // credToken: the grant in room r
	// value returns the credential at the time of the request (the stream
	// key may have been rotated by a probe).
	value func() string
}

func fixed(s string) func() string { return func() string { return s } }

// attackCredentials makes every credential of the matrix in room r.
func (a *attackAPI) attackCredentials() []credential {
	t := a.t
	member := func(identity, preset string) string {
		a.must(http.StatusCreated, "POST", "/api/v1/rooms/r/members", a.adminKey, map[string]any{"identity": identity, "preset": preset})
		return a.mint(identity, map[string]any{"r": map[string]any{}})
	}
	only := func(identity string, perms ...string) string {
		if perms == nil {
			perms = []string{}
		}
		return a.mint(identity, map[string]any{"r": map[string]any{"permissions": perms}})
	}
	hostClaims := func(identity string) access.Claims {
		return access.Claims{ID: randomHex(8), Identity: identity, Rooms: map[string]access.Grant{"r": {Permissions: access.Host}},
			IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(time.Hour)}
	}

	room := a.must(http.StatusOK, "GET", "/api/v1/rooms/r", a.adminKey, nil)
	join := a.must(http.StatusOK, "POST", "/api/v1/rooms/r/join", "", map[string]any{"pin": room.str("pin"), "name": "Guest"})
	a.guestPerms = perms(t, join.body["permissions"])

	revoked := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey,
		map[string]any{"identity": "revoked", "rooms": map[string]any{"r": map[string]any{"preset": "host"}}})
	a.must(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+revoked.str("token_id"), a.adminKey, nil)

	deleted := member("gone", "host")
	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/r/members/gone", a.adminKey, nil)

	banned := only("banned", "publish", "subscribe", "list", "send", "receive", "moderate")
	a.must(http.StatusOK, "PUT", "/api/v1/rooms/r/bans/banned", a.adminKey, map[string]any{"seconds": 3600})

	expired := hostClaims("late")
	expired.IssuedAt, expired.ExpiresAt = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Minute)

	viewer := member("viewer", "viewer")
	host := a.sign(hostClaims("forger"))
	foreign, err := access.NewIssuer(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	foreignToken, err := foreign.Sign(hostClaims("stranger"))
	if err != nil {
		t.Fatal(err)
	}

	return []credential{
		{name: "none", kind: credNone, value: fixed("")},
		{name: "admin key", kind: credAdmin, value: fixed(a.adminKey)},
		{name: "wrong admin key", kind: credWrongKey, value: fixed(randomHex(32))},
		{name: "stream key", kind: credStreamKey, value: a.streamKey},
		{name: "wrong stream key", kind: credWrongStreamKey, value: fixed("sk_" + randomHex(24))},
		{name: "host", kind: credToken, perms: access.Host, value: fixed(member("host", "host"))},
		{name: "speaker", kind: credToken, perms: access.Speaker, value: fixed(member("speaker", "speaker"))},
		{name: "member", kind: credToken, perms: access.Member, value: fixed(member("member", "member"))},
		{name: "viewer", kind: credToken, perms: access.Viewer, value: fixed(viewer)},
		{name: "PIN guest", kind: credToken, perms: a.guestPerms, value: fixed(join.str("token"))},
		{name: "publish only", kind: credToken, perms: access.Publish, value: fixed(only("p-only", "publish"))},
		{name: "subscribe only", kind: credToken, perms: access.Subscribe, value: fixed(only("s-only", "subscribe"))},
		{name: "list only", kind: credToken, perms: access.List, value: fixed(only("l-only", "list"))},
		{name: "send only", kind: credToken, perms: access.Send, value: fixed(only("se-only", "send"))},
		{name: "receive only", kind: credToken, perms: access.Receive, value: fixed(only("r-only", "receive"))},
		{name: "moderate only", kind: credToken, perms: access.Moderate, value: fixed(only("m-only", "moderate"))},
		{name: "no permissions", kind: credToken, perms: 0, value: fixed(only("nothing"))},
		{name: "revoked token", kind: credRevoked, value: fixed(revoked.str("token"))},
		{name: "deleted member", kind: credDeleted, value: fixed(deleted)},
		{name: "banned identity", kind: credBanned, value: fixed(banned)},
		{name: "expired", kind: credExpired, value: fixed(a.sign(expired))},
		{name: "wrong room", kind: credWrongRoom, value: fixed(a.mint("elsewhere", map[string]any{"other": map[string]any{"preset": "host"}}))},
		{name: "tampered signature", kind: credBadSignature, value: fixed(tamperSignature(t, host))},
		{name: "forged claims", kind: credBadSignature, value: fixed(forgeHost(t, viewer))},
		{name: "alg none", kind: credBadSignature, value: fixed(algNone(t, hostClaimsJSON("anyone")))},
		{name: "other signing key", kind: credBadSignature, value: fixed(foreignToken)},
	}
}

// streamKey returns room r's stream key, making one if a probe deleted it.
func (a *attackAPI) streamKey() string {
	a.t.Helper()
	r := a.do("GET", "/api/v1/rooms/r/stream-key", a.adminKey, nil)
	if r.status == http.StatusNotFound {
		r = a.must(http.StatusCreated, "POST", "/api/v1/rooms/r/stream-key", a.adminKey, nil)
	}
	if k := r.str("stream_key"); strings.HasPrefix(k, "sk_") {
		return k
	}
	a.t.Fatalf("stream key: %d %s", r.status, r.raw)
	return ""
}

// JWT surgery: what an attacker can do to a token without the server's key.

var b64 = base64.RawURLEncoding

// tamperSignature changes one byte in the middle of the token's signature
// (not its last character, whose low bits are padding and may decode alike).
func tamperSignature(t testing.TB, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.') + 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// forgeHost rewrites a token's payload to grant everything in room r,
// keeping its header and signature.
func forgeHost(t testing.TB, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m["rooms"] = map[string]any{"r": map[string]any{"p": access.Host.String()}}
	data, _ := json.Marshal(m)
	return parts[0] + "." + b64.EncodeToString(data) + "." + parts[2]
}

// hostClaimsJSON is the payload of a host token in room r, as Lectern writes one.
func hostClaimsJSON(identity string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": "lectern", "sub": identity, "jti": "forged", "iat": now.Add(-time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(), "rooms": map[string]any{"r": map[string]any{"p": access.Host.String()}}}
}

// algNone makes an unsigned token ({"alg":"none"}, empty signature).
func algNone(t testing.TB, claims map[string]any) string {
	t.Helper()
	data, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString(data) + "."
}

// outcome is what the server answered: an HTTP status and the JSON error
// code, or 101 for an accepted websocket.
type outcome struct {
	status int
	code   string
}

// send makes one request with cred as the bearer credential (or in the
// token query parameter) and returns the answer and its headers.
func (a *attackAPI) send(method, path, cred, ctype, body string, inQuery bool) (outcome, http.Header) {
	a.t.Helper()
	url := a.url + path
	if inQuery && cred != "" {
		url += "?token=" + cred
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if !inQuery && cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	return outcome{res.StatusCode, errorCode(res)}, res.Header
}

// errorCode reads the JSON error code of an answer, or "".
func errorCode(res *http.Response) string {
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		return ""
	}
	var e struct {
		Code string `json:"code"`
	}
	data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	json.Unmarshal(data, &e)
	return e.Code
}

// dial opens a websocket at path with cred in the Authorization header (room
// socket) or the token query parameter (chat socket). Accepted, it reads the
// first frame, which must be of type first, closes and returns 101.
func (a *attackAPI) dial(path, cred, first string, inQuery bool) outcome {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(a.t.Context(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(a.url, "http") + path
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	switch {
	case cred == "":
	case inQuery:
		url += "?token=" + cred
	default:
		opts.HTTPHeader.Set("Authorization", "Bearer "+cred)
	}
	conn, res, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		if res == nil {
			a.t.Fatalf("dial %s: %v", path, err)
		}
		return outcome{res.StatusCode, errorCode(res)}
	}
	defer conn.CloseNow()
	_, data, err := conn.Read(ctx)
	var m struct {
		Type string `json:"type"`
	}
	if err != nil || json.Unmarshal(data, &m) != nil || m.Type != first {
		a.t.Errorf("websocket %s: first frame %s (%v), want %s", path, data, err, first)
	}
	conn.Close(websocket.StatusNormalClosure, "probe over")
	return outcome{http.StatusSwitchingProtocols, ""}
}

// readAllString reads and closes a response body.
func readAllString(res *http.Response) string {
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return string(data)
}
