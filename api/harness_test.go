package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/chat"
	"lectern/sfu"
	"lectern/storage"
	"lectern/storage/storagetest"
)

// testAPI is a real API server on a loopback port over a real store.
type testAPI struct {
	t        testing.TB
	url      string
	adminKey string
	issuer   *access.Issuer
	db       *storage.DB
	srv      *Server
	media    *sfu.SFU
	chat     *chat.Hub
}

// newTestAPI builds the server; opts may add to its dependencies.
func newTestAPI(t testing.TB, b storagetest.Backend, opts ...func(*Deps)) *testAPI {
	t.Helper()
	db := storagetest.Open(t, b)
	key, err := EnsureAdminKey(t.Context(), db, "")
	if err != nil || key == "" {
		t.Fatalf("admin key: %q, %v", key, err)
	}
	issuer, err := access.NewIssuer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	media, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { media.Close() })
	hub := startChat(t, db, log)
	d := Deps{DB: db, Issuer: issuer, Registry: prometheus.NewRegistry(), Log: log, SFU: media, Chat: hub}
	for _, o := range opts {
		o(&d)
	}
	srv, err := New(DefaultConfig(), d)
	if err != nil {
		t.Fatal(err)
	}
	// After the HTTP server (registered below, so it closes first), before
	// the chat hub and the SFU.
	t.Cleanup(srv.Close)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &testAPI{t: t, url: hs.URL, adminKey: key, issuer: issuer, db: db, srv: srv, media: media, chat: hub}
}

// serveAlso serves srv, a second server over a's store and media, until the
// test ends, and returns a's view of it.
func serveAlso(t *testing.T, a *testAPI, srv *Server) *testAPI {
	t.Helper()
	t.Cleanup(srv.Close)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	b := *a
	b.url, b.srv = hs.URL, srv
	return &b
}

// response is a decoded API answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// code returns the JSON error code, or "".
func (r response) code() string { s, _ := r.body["code"].(string); return s }

// str returns a string field of the body.
func (r response) str(key string) string { s, _ := r.body[key].(string); return s }

// do sends body (a string is sent as is, anything else as JSON) with auth as the bearer credential.
func (a *testAPI) do(method, path, auth string, body any) response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			a.t.Fatalf("%s %s: body is not a JSON object: %s", method, path, raw)
		}
	}
	return r
}

// must checks the status and returns the response.
func (a *testAPI) must(status int, method, path, auth string, body any) response {
	a.t.Helper()
	r := a.do(method, path, auth, body)
	if r.status != status {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.raw)
	}
	return r
}

// createRoom makes a room with the admin key and returns its JSON.
func (a *testAPI) createRoom(body map[string]any) response {
	a.t.Helper()
	return a.must(http.StatusCreated, "POST", "/api/v1/rooms", a.adminKey, body)
}

// sign makes a token directly with the server's issuer.
func (a *testAPI) sign(c access.Claims) string {
	a.t.Helper()
	if c.ID == "" {
		c.ID = "test"
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now().Add(-time.Minute)
	}
	tok, err := a.issuer.Sign(c)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// perms decodes a permissions object from a response field.
func perms(t testing.TB, v any) access.Permissions {
	t.Helper()
	data, _ := json.Marshal(v)
	var p access.Permissions
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("permissions %s: %v", data, err)
	}
	return p
}
