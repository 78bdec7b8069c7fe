package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"lectern/access"
	"lectern/api"
	"lectern/chat"
	"lectern/hls"
	"lectern/hls/record"
	"lectern/ingest"
	"lectern/relay"
	"lectern/rooms"
	"lectern/sfu"
	"lectern/storage"
)

// signingKeyName names the token signing key in the store; every node sharing
// the database signs and verifies with it.
const signingKeyName = "token_signing_key"

// run serves until ctx is done, then shuts down within the configured deadline.
// When ready is not nil it receives the public URL once the server listens.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	level, _ := parseLevel(cfg.LogLevel)
	p := &process{cfg: cfg, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	defer p.stop()
	for _, start := range []func(context.Context) error{p.openStore, p.listen, p.startMedia, p.startAPI} {
		if err := start(ctx); err != nil {
			return err
		}
	}
	return p.serve(ctx, stdout, ready)
}

// process is one running Lectern process: its parts, started in order by run,
// and what undoes each of them, run in reverse by stop. A start step that
// fails leaves the steps before it to stop.
type process struct {
	cfg    config
	log    *slog.Logger
	undo   []func()
	db     *storage.DB
	newKey string // the admin key generated on this start, if any
	key    []byte // the token signing key, shared by every node
	issuer *access.Issuer

	ln     net.Listener
	tls    *tls.Config
	apiCfg api.Config
	turn   *relay.Server

	media     *sfu.SFU
	rtsp      *ingest.Server
	rooms     *rooms.Service
	cluster   *member
	broadcast *hls.Service
	recorder  *record.Recorder
	hub       *chat.Hub
	srv       *api.Server
	hooks     *webhooks // nil without webhook_url
}

// onStop adds f to what stop runs, before everything added earlier.
func (p *process) onStop(f func()) { p.undo = append(p.undo, f) }

// stop undoes every start step that ran, last first.
func (p *process) stop() {
	for i := len(p.undo) - 1; i >= 0; i-- {
		p.undo[i]()
	}
	p.undo = nil
}

// goRun runs a part's Run(ctx) until stop, which waits for it to return.
func (p *process) goRun(name string, runPart func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runPart(ctx) }()
	p.onStop(func() {
		cancel()
		if err := <-done; err != nil {
			p.log.Warn(name+" stopped", "err", err)
		}
	})
}

// serve answers HTTP until ctx is done, then drains and shuts down within
// shutdown_timeout; stop then ends the rest.
func (p *process) serve(ctx context.Context, stdout io.Writer, ready chan<- string) error {
	hs := &http.Server{
		Handler:           secureResponses(p.srv.Handler()),
		ReadHeaderTimeout: p.cfg.Edge.HTTPHeader,
		IdleTimeout:       p.cfg.Edge.HTTPIdle,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(p.ln) }()
	printBanner(stdout, p.apiCfg.PublicURL, p.apiCfg.RTSPURL, p.newKey)
	printNotes(stdout, p.apiCfg.PublicURL, turnURLs(p.turn))
	p.log.Info("lectern started", "http", p.ln.Addr().String(), "public_url", p.apiCfg.PublicURL, "database", p.db.Backend())
	if ready != nil {
		ready <- p.apiCfg.PublicURL
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// Graceful drain (cluster only): new rooms, and joins to rooms not live
	// here, go to other nodes; live rooms go on until they empty or
	// drain_timeout passes. Work that must finish before the HTTP server and
	// the SFU stop (such as finalizing recordings) belongs after this.
	p.cluster.drainRooms()
	p.log.Info("shutting down", "deadline", p.cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	// Recordings in progress end with the broadcast: their last segments and
	// playlists are written at once and uploaded, beside the HTTP server's
	// shutdown, within the same deadline.
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		stopRecorder(shutdownCtx, p.recorder, p.log)
	}()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		hs.Close()
		p.log.Warn("shutdown deadline passed; connections closed", "err", err)
	}
	<-recorded
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	p.log.Info("lectern stopped")
	return nil
}

// derivePublicURL turns the listen address into a URL a browser on this machine
// can open: an unspecified host becomes localhost, where browsers allow cameras over http.
func derivePublicURL(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// deriveRTSPURL is the RTSP base URL on the public URL's host and the RTSP port.
func deriveRTSPURL(publicURL string, addr net.Addr) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return "rtsp://" + net.JoinHostPort(u.Hostname(), port)
}

// printBanner tells a newcomer where to go. The admin key is printed only when it
// was just generated; it is stored hashed and cannot be shown again.
func printBanner(w io.Writer, publicURL, rtspURL, newKey string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nLectern is running.\n\n  Open:      %s/\n  API:       %s/api/v1  (OpenAPI: %s/api/v1/openapi.json)\n  RTSP:      %s/{room}\n", publicURL, publicURL, publicURL, rtspURL)
	if newKey != "" {
		fmt.Fprintf(&b, "  Admin key: %s\n\n  This key is shown once and stored hashed: keep it. Use it as\n  Authorization: Bearer <admin key>\n\n", newKey)
	} else {
		fmt.Fprintf(&b, "  Admin key: set earlier (shown once on first start; LECTERN_ADMIN_KEY adds one)\n\n")
	}
	io.WriteString(w, b.String())
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}
