package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// hstsValue keeps browsers on HTTPS for a year once they have seen it (RFC 6797
// section 6.1). No includeSubDomains: other hosts under the domain are not ours.
const hstsValue = "max-age=31536000"

// secureResponses adds what responses served over TLS need: the HSTS header and
// the Secure attribute on every cookie, whichever handler set it. Plain HTTP
// responses pass untouched (HSTS over HTTP is ignored, RFC 6797 section 7.2).
func secureResponses(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Strict-Transport-Security", hstsValue)
		next.ServeHTTP(&secureWriter{ResponseWriter: w}, r)
	})
}

// secureWriter marks cookies Secure just before the header goes out. It keeps
// the Flusher and Hijacker of the writer it wraps (HLS blocking reloads, websockets).
type secureWriter struct {
	http.ResponseWriter
	sent bool
}

func (s *secureWriter) markCookies() {
	if s.sent {
		return
	}
	s.sent = true
	h := s.Header()
	cookies := h["Set-Cookie"]
	for i, c := range cookies {
		if !hasAttribute(c, "secure") {
			cookies[i] = c + "; Secure"
		}
	}
}

func (s *secureWriter) WriteHeader(code int) {
	s.markCookies()
	s.ResponseWriter.WriteHeader(code)
}

func (s *secureWriter) Write(b []byte) (int, error) {
	s.markCookies()
	return s.ResponseWriter.Write(b)
}

func (s *secureWriter) Flush() {
	s.markCookies()
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *secureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	s.markCookies()
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *secureWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// hasAttribute reports whether a Set-Cookie value carries the attribute.
func hasAttribute(cookie, attr string) bool {
	parts := strings.Split(cookie, ";")
	for _, p := range parts[1:] {
		name, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(name, attr) {
			return true
		}
	}
	return false
}

// printNotes adds to the banner what a newcomer would otherwise find out the
// hard way: that cameras need HTTPS off localhost, and where TURN listens.
func printNotes(w io.Writer, publicURL string, turnURLs []string) {
	var b strings.Builder
	if insecureOrigin(publicURL) {
		fmt.Fprintf(&b, "  Warning:   %s is plain HTTP on a host other than localhost. Browsers allow\n"+
			"             cameras and microphones only on https:// or http://localhost: set\n"+
			"             tls_cert and tls_key, or acme_host, to serve HTTPS.\n\n", publicURL)
	}
	if len(turnURLs) > 0 {
		fmt.Fprintf(&b, "  TURN:      %s\n\n", strings.Join(turnURLs, "  "))
	}
	io.WriteString(w, b.String())
}

// insecureOrigin reports whether browsers treat the URL's origin as insecure
// (W3C Secure Contexts section 3.1): plain HTTP anywhere but loopback.
func insecureOrigin(publicURL string) bool {
	u, err := url.Parse(publicURL)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}
