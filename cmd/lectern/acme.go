package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// newACME builds the certificate manager for acme_host: certificates are
// obtained on the first TLS handshake and renewed before they expire, and kept
// in the data directory so restarts do not ask the CA again.
func newACME(c config) (*autocert.Manager, error) {
	if c.ACME.Host == "" {
		return nil, errors.New("acme_host: not set")
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(filepath.Join(c.DataDir, "acme")),
		HostPolicy: autocert.HostWhitelist(c.ACME.Host),
		Email:      c.ACME.Email,
	}
	if c.ACME.DirectoryURL != "" {
		m.Client = &acme.Client{DirectoryURL: c.ACME.DirectoryURL}
	}
	return m, nil
}

// serveACME answers HTTP-01 challenges (RFC 8555 section 8.3) on ln and sends
// every other plain HTTP request to HTTPS. The returned stop closes it.
func serveACME(ln net.Listener, m *autocert.Manager, log *slog.Logger) func() {
	hs := &http.Server{Handler: m.HTTPHandler(nil), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			log.Warn("acme http server stopped", "err", err)
		}
	}
}

// acmeTLS is the TLS configuration and public URL base for acme_host.
func acmeTLS(c config, httpAddr net.Addr, log *slog.Logger) (*tls.Config, string, func(), error) {
	m, err := newACME(c)
	if err != nil {
		return nil, "", nil, err
	}
	stop := func() {}
	if !off(c.ACME.HTTPAddr) {
		ln, err := net.Listen("tcp", c.ACME.HTTPAddr)
		if err != nil {
			return nil, "", nil, fmt.Errorf("acme_http_addr: %w", err)
		}
		stop = serveACME(ln, m, log)
	}
	public := "https://" + c.ACME.Host
	if _, port, _ := net.SplitHostPort(httpAddr.String()); port != "443" {
		public = "https://" + net.JoinHostPort(c.ACME.Host, port)
	}
	tc := m.TLSConfig()
	tc.MinVersion = tls.VersionTLS12
	// HTTP/1.1 as with tls_cert (websockets hijack the connection), plus the
	// TLS-ALPN-01 challenge protocol (RFC 8737).
	tc.NextProtos = []string{"http/1.1", acme.ALPNProto}
	return tc, public, stop, nil
}
