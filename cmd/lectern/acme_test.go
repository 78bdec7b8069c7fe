package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/acme/autocert"
)

// TestACMEManager builds the certificate manager for acme_host (no CA is
// reachable here): its cache is in the data dir, it asks only for that host, it
// answers TLS-ALPN-01, and its HTTP side redirects to HTTPS.
func TestACMEManager(t *testing.T) {
	dir := t.TempDir()
	c, err := loadConfig(nil, envOf(map[string]string{"LECTERN_DATA_DIR": dir, "LECTERN_ACME_HOST": "live.example.com"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newACME(c)
	if err != nil {
		t.Fatal(err)
	}
	if cache, ok := m.Cache.(autocert.DirCache); !ok || string(cache) != filepath.Join(dir, "acme") {
		t.Errorf("cache %v, want %s", m.Cache, filepath.Join(dir, "acme"))
	}
	if m.HostPolicy(t.Context(), "live.example.com") != nil || m.HostPolicy(t.Context(), "other.example.com") == nil {
		t.Error("host policy does not allow exactly acme_host")
	}
	c.ACME.HTTPAddr = "off"
	for port, want := range map[int]string{443: "https://live.example.com", 8443: "https://live.example.com:8443"} {
		tc, public, stop, err := acmeTLS(c, &net.TCPAddr{IP: net.IPv4zero, Port: port}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		stop()
		if public != want || strings.Join(tc.NextProtos, " ") != "http/1.1 acme-tls/1" || tc.GetCertificate == nil {
			t.Errorf("port %d: public URL %q (want %q), ALPN %v", port, public, want, tc.NextProtos)
		}
	}

	// The whole server starts with ACME; the CA is unreachable, so no certificate yet.
	env := map[string]string{"LECTERN_DATA_DIR": dir, "LECTERN_ACME_HOST": "live.example.com",
		"LECTERN_ACME_HTTP_ADDR": "127.0.0.1:0", "LECTERN_ACME_DIRECTORY_URL": "http://127.0.0.1:1/directory"}
	public, banner, stop := server(t, env)
	defer stop()
	if u, err := url.Parse(public); err != nil || u.Scheme != "https" || u.Hostname() != "live.example.com" {
		t.Errorf("public URL %q, want https://live.example.com:port", public)
	}
	if strings.Contains(banner, "Browsers allow") {
		t.Errorf("HTTPS banner warns about plain HTTP:\n%s", banner)
	}
	if _, err := os.Stat(filepath.Join(dir, "lectern.db")); err != nil {
		t.Errorf("data dir: %v", err)
	}
}

// TestACMEHTTPRedirects: the HTTP-01 listener sends ordinary requests to HTTPS.
func TestACMEHTTPRedirects(t *testing.T) {
	c, _ := loadConfig(nil, envOf(map[string]string{"LECTERN_DATA_DIR": t.TempDir(), "LECTERN_ACME_HOST": "live.example.com"}), io.Discard)
	m, _ := newACME(c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	defer serveACME(ln, m, slog.New(slog.NewTextHandler(io.Discard, nil)))()
	req, _ := http.NewRequest("GET", "http://"+addr+"/watch/r", nil)
	req.Host = "live.example.com"
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusFound || loc != "https://live.example.com/watch/r" {
		t.Errorf("redirect %d to %q", res.StatusCode, loc)
	}
}
