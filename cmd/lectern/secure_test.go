package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHSTSOnlyOverTLS: the server sends HSTS over HTTPS and not over plain HTTP.
func TestHSTSOnlyOverTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, pool := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	secureURL, _, stop := server(t, map[string]string{"LECTERN_DATA_DIR": dir, "LECTERN_TLS_CERT": certFile, "LECTERN_TLS_KEY": keyFile})
	defer stop()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, path := range []string{"/healthz", "/api/v1/rooms", "/no/such/page"} {
		res, err := client.Get(secureURL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Strict-Transport-Security"); got != hstsValue {
			t.Errorf("HTTPS %s: Strict-Transport-Security = %q, want %q", path, got, hstsValue)
		}
	}

	plainURL, _, stopPlain := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir()})
	defer stopPlain()
	res, err := http.Get(plainURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Strict-Transport-Security"); got != "" || res.StatusCode != 200 {
		t.Errorf("plain HTTP: status %d, Strict-Transport-Security = %q, want none", res.StatusCode, got)
	}
}

// TestCookiesSecureOverTLS: any cookie a handler sets is marked Secure over
// HTTPS, left alone over HTTP, and a hijacked connection (a websocket) still works.
func TestCookiesSecureOverTLS(t *testing.T) {
	h := secureResponses(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack through the wrapper: %v", err)
				return
			}
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			buf.Flush()
			conn.Close()
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2", Secure: true})
		io.WriteString(w, "hi")
	}))
	cases := []struct {
		name   string
		srv    *httptest.Server
		secure bool
	}{
		{"https", httptest.NewTLSServer(h), true},
		{"http", httptest.NewServer(h), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.srv.Close()
			client := tc.srv.Client()
			res, err := client.Get(tc.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			cookies := res.Cookies()
			if len(cookies) != 2 {
				t.Fatalf("cookies %v", res.Header.Values("Set-Cookie"))
			}
			if cookies[0].Secure != tc.secure || !cookies[0].HttpOnly || !cookies[1].Secure {
				t.Errorf("Set-Cookie %q; want the first Secure = %v", res.Header.Values("Set-Cookie"), tc.secure)
			}
			if n := strings.Count(strings.ToLower(res.Header.Values("Set-Cookie")[1]), "secure"); n != 1 {
				t.Errorf("Secure given %d times in %q", n, res.Header.Values("Set-Cookie")[1])
			}
			res, err = client.Get(tc.srv.URL + "/hijack")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != "ok" {
				t.Errorf("hijacked response %q", body)
			}
		})
	}
}

// TestBannerWarnsAboutPlainHTTP: served over plain HTTP on a public host, the
// banner says browsers allow cameras only on HTTPS or localhost.
func TestBannerWarnsAboutPlainHTTP(t *testing.T) {
	cases := []struct {
		publicURL string
		warn      bool
	}{
		{"http://lectern.example.com:8080", true},
		{"http://203.0.113.7", true},
		{"", false}, // derived: http://127.0.0.1:port
		{"http://localhost:8080", false},
		{"https://lectern.example.com", false},
	}
	for _, tc := range cases {
		_, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir(), "LECTERN_PUBLIC_URL": tc.publicURL})
		stop()
		if got := strings.Contains(banner, "Browsers allow") && strings.Contains(banner, "cameras and microphones only on https://"); got != tc.warn {
			t.Errorf("public URL %q: warning %v, want %v; banner:\n%s", tc.publicURL, got, tc.warn, banner)
		}
	}
	if insecureOrigin("http://[::1]:8080") || !insecureOrigin("http://192.168.1.5:8080") || insecureOrigin("http://cam.localhost") {
		t.Error("insecureOrigin misjudges loopback or LAN addresses")
	}
}
