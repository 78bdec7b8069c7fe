package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"log/slog"
	"net"
	"net/url"
	"time"

	"lectern/api"
	"lectern/relay"
	"lectern/storage"
)

// turnSecretName names the TURN credential secret in the store; every node
// sharing the database mints and checks credentials with it.
const turnSecretName = "turn_secret"

// startTURN starts the embedded TURN server when turn_public_ip is set. It
// returns nil and a no-op stop when TURN is off; stop ends the server and waits.
func startTURN(ctx context.Context, cfg config, db *storage.DB, tlsConfig *tls.Config, publicURL string, log *slog.Logger) (*relay.Server, func(), error) {
	if cfg.TURN.PublicIP == "" {
		return nil, func() {}, nil
	}
	secret, err := db.Secret(ctx, turnSecretName, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, nil, err
	}
	host := ""
	if u, err := url.Parse(publicURL); err == nil {
		host = u.Hostname()
	}
	rc := cfg.TURN.relayConfig()
	if net.ParseIP(host) == nil && host != "" {
		rc.TLSHost = host
	}
	if tlsConfig != nil {
		rc.TLS, rc.TLSAddr = tlsConfig, listenAddr(cfg.TURN.TLSAddr)
	}
	for _, ip := range cfg.WebRTCPublicIPs {
		if p := net.ParseIP(ip); p != nil {
			rc.PeerIPs = append(rc.PeerIPs, p)
		}
	}
	srv, err := relay.New(rc, secret, log.With("component", "turn"))
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	return srv, func() {
		cancel()
		if err := <-done; err != nil {
			log.Warn("turn server stopped", "err", err)
		}
	}, nil
}

// iceServersOf hands the TURN server's ICE servers to the API; nil when TURN is off.
func iceServersOf(srv *relay.Server) func(string, time.Time) []api.ICEServer {
	if srv == nil {
		return nil
	}
	return func(identity string, until time.Time) []api.ICEServer {
		var out []api.ICEServer
		for _, s := range srv.ICEServers(identity, until) {
			out = append(out, api.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
		}
		return out
	}
}

// turnURLs are the TURN server's URLs for the banner; none when TURN is off.
func turnURLs(srv *relay.Server) []string {
	if srv == nil {
		return nil
	}
	return srv.URLs()
}
