package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"lectern/storage/storagetest"
)

// TestPageHeaders checks that every page sends a strict Content-Security-Policy
// (no inline script or style, no framing), nosniff, a referrer policy and a
// Permissions-Policy that grants devices only to the pages that use them.
func TestPageHeaders(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	for path, devices := range map[string]string{
		"/": "camera=(self), microphone=(self), display-capture=()", "/admin": "camera=(), microphone=(), display-capture=()",
		"/room/weekly":   "camera=(self), microphone=(self), display-capture=(self)",
		"/studio/weekly": "camera=(self), microphone=(self), display-capture=(self)",
		"/watch/weekly":  "camera=(self), microphone=(self), display-capture=()",
	} {
		r := a.must(http.StatusOK, "GET", path, "", nil)
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp+";", want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q allows unsafe sources", path, csp)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": referrerPolicy, "X-Frame-Options": "DENY"} {
			if got := r.header.Get(h); got != want {
				t.Errorf("GET %s: %s %q, want %q", path, h, got, want)
			}
		}
		if got := r.header.Get("Permissions-Policy"); !strings.HasPrefix(got, devices) {
			t.Errorf("GET %s: Permissions-Policy %q, want it to start %q", path, got, devices)
		}
	}
	// API answers are never sniffed either.
	r := a.must(http.StatusNotFound, "GET", "/api/v1/nothing", "", nil)
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("API 404 without nosniff: %v", r.header)
	}
}

// TestWatchEmbedOrigins checks that embed_origins lets the named sites frame
// the watch page, and only it.
func TestWatchEmbedOrigins(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PublicURL = "https://lectern.example"
	cfg.EmbedOrigins = []string{"https://school.example", "https://*.blog.example"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &siteHandlers{cfg: cfg}
	for kind, want := range map[pageKind]string{pageWatch: "frame-ancestors https://school.example https://*.blog.example",
		pageCall: "frame-ancestors 'none'", pagePlain: "frame-ancestors 'none'", pageDevices: "frame-ancestors 'none'"} {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		s.pageHeaders(kind)(c)
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.HasSuffix(csp, want) {
			t.Errorf("page kind %d: CSP %q, want it to end %q", kind, csp, want)
		}
		if strings.Contains(csp, "http: ") {
			t.Errorf("page kind %d: CSP %q allows plain http on an https site", kind, csp)
		}
		if xfo := w.Header().Get("X-Frame-Options"); (xfo == "") != (kind == pageWatch) {
			t.Errorf("page kind %d: X-Frame-Options %q", kind, xfo)
		}
	}
	for _, bad := range []string{"school.example", "https://school.example/path", "https://a.example; script-src *", "javascript:alert(1)", "'self'"} {
		cfg.EmbedOrigins = []string{bad}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "embed_origins") {
			t.Errorf("embed_origins %q: %v, want an embed_origins error", bad, err)
		}
	}
}

// invalidPaths are request paths no route can serve: invalid UTF-8, overlong
// and surrogate encodings, NUL, traversal.
var invalidPaths = []string{
	"/js/%ff", "/js/%c0%ae%c0%ae/x", "/css/%ed%a0%80", "/img/%00", "/vendor/%ff%fe",
	"/room/%ff", "/watch/%e2%82", "/studio/a%00b", "/api/v1/rooms/%ff", "/api/v1/rooms/%ff/ws",
	"/hls/%ff/index.m3u8", "/whip/%ff", "/%ff", "/js/..%2f..%2fgo.mod", "/js/%2e%2e/webui.go", "/css/..\\..\\x",
}

// TestInvalidPaths checks that invalid paths get 400 or 404, never 500.
func TestInvalidPaths(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	for _, p := range invalidPaths {
		r := a.do("GET", p, "", nil)
		if r.status != http.StatusBadRequest && r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 400 or 404", p, r.status, r.raw)
		}
	}
}

// FuzzPath sends arbitrary paths to every route: none may answer 500.
func FuzzPath(f *testing.F) {
	for _, p := range invalidPaths {
		f.Add(p)
	}
	a := newTestAPI(f, storagetest.Backend{Name: "sqlite", DataDir: f.TempDir()})
	h := a.srv.Handler()
	f.Fuzz(func(t *testing.T, p string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = "/" + strings.TrimPrefix(p, "/")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("GET %q: %d %s", req.URL.Path, w.Code, w.Body)
		}
	})
}
