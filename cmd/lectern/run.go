package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"lectern/access"
	"lectern/api"
	"lectern/chat"
	"lectern/hls"
	"lectern/ingest"
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
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	db, err := storage.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	log.Info("database opened", "backend", db.Backend(), "path", db.Path())

	newKey, err := api.EnsureAdminKey(ctx, db, cfg.AdminKey)
	if err != nil {
		return err
	}
	key, err := db.Secret(ctx, signingKeyName, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return err
	}
	issuer, err := access.NewIssuer(key)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	apiCfg := api.DefaultConfig()
	apiCfg.TokenTTL = max(cfg.TokenTTL, time.Minute)
	apiCfg.MaxTokenTTL = max(apiCfg.MaxTokenTTL, apiCfg.TokenTTL)
	apiCfg.TrustedProxies = cfg.TrustedProxies

	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls_cert, tls_key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http_addr: %w", err)
	}
	apiCfg.PublicURL = cfg.PublicURL
	if cfg.ACME.Host != "" {
		acmeConfig, acmeURL, stopACME, err := acmeTLS(cfg, ln.Addr(), log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopACME()
		tlsConfig = acmeConfig
		if apiCfg.PublicURL == "" {
			apiCfg.PublicURL = acmeURL
		}
	}
	if apiCfg.PublicURL == "" {
		apiCfg.PublicURL = derivePublicURL(ln.Addr(), tlsConfig != nil)
	}
	turnSrv, stopTURN, err := startTURN(ctx, cfg, db, tlsConfig, apiCfg.PublicURL, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopTURN()
	apiCfg.ICEServers = iceServersOf(turnSrv)
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	media, err := sfu.New(sfu.Config{UDPPort: cfg.WebRTCUDPPort, PublicIPs: cfg.WebRTCPublicIPs, Loopback: cfg.WebRTCLoopback}, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer media.Close()
	auth := &rtspAuth{db: db, issuer: issuer}
	rtsp, err := ingest.New(ingest.Config{Addr: cfg.RTSPAddr, UDPPort: cfg.RTSPUDPPort}, auth, media, log)
	if err != nil {
		ln.Close()
		return err
	}
	apiCfg.RTSPURL = deriveRTSPURL(apiCfg.PublicURL, rtsp.Addr())
	// Clustering (cluster: true on PostgreSQL) registers this node; nil otherwise.
	cl, err := joinCluster(ctx, cfg, db, media, apiCfg.PublicURL, apiCfg.RTSPURL, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer cl.leave()
	rtsp.Placer = cl.rtspPlacer()
	hlsCfg := hls.DefaultConfig()
	hlsCfg.PartDuration, hlsCfg.SegmentDuration = cfg.HLSPartDuration, cfg.HLSSegmentDuration
	hlsCfg.CDNURL = cfg.HLSCDNURL
	broadcast, err := hls.New(hlsCfg, media, key, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer broadcast.Close()
	if err := useHLSCDN(ctx, cfg, broadcast, log); err != nil {
		ln.Close()
		return err
	}
	recorder, err := newRecorder(ctx, cfg, db, broadcast, key, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer func() { // on an early return; a no-op after the shutdown below
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		stopRecorder(ctx, recorder, log)
	}()
	hub, err := chat.New(chat.DefaultConfig(), db, log)
	if err != nil {
		ln.Close()
		return err
	}
	srv, err := api.New(apiCfg, api.Deps{DB: db, Issuer: issuer, Registry: reg, Log: log, SFU: media, Chat: hub, HLS: broadcast, Recorder: recorder, Placer: cl.httpPlacer()})
	if err == nil {
		auth.broadcast = srv.EnsureBroadcast // before the RTSP server runs
	}
	if err != nil {
		ln.Close()
		return err
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopDebug()
	}
	rtspCtx, stopRTSP := context.WithCancel(context.Background())
	rtspDone := make(chan error, 1)
	go func() { rtspDone <- rtsp.Run(rtspCtx) }()
	defer func() {
		stopRTSP()
		if err := <-rtspDone; err != nil {
			log.Warn("rtsp server stopped", "err", err)
		}
	}()
	// The chat hub stops after the HTTP server: its end closes the chat
	// websockets, which the server's Shutdown does not wait for.
	chatCtx, stopChat := context.WithCancel(context.Background())
	chatDone := make(chan error, 1)
	go func() { chatDone <- hub.Run(chatCtx) }()
	defer func() {
		stopChat()
		if err := <-chatDone; err != nil {
			log.Warn("chat hub stopped", "err", err)
		}
	}()
	if err := srv.StartBroadcasts(ctx); err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{
		Handler:           secureResponses(srv.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	printBanner(stdout, apiCfg.PublicURL, apiCfg.RTSPURL, newKey)
	printNotes(stdout, apiCfg.PublicURL, turnURLs(turnSrv))
	log.Info("lectern started", "http", ln.Addr().String(), "public_url", apiCfg.PublicURL, "database", db.Backend())
	if ready != nil {
		ready <- apiCfg.PublicURL
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
	cl.drainRooms()
	log.Info("shutting down", "deadline", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Recordings in progress end with the broadcast: their last segments and
	// playlists are written at once and uploaded, beside the HTTP server's
	// shutdown, within the same deadline.
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		stopRecorder(shutdownCtx, recorder, log)
	}()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		hs.Close()
		log.Warn("shutdown deadline passed; connections closed", "err", err)
	}
	<-recorded
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("lectern stopped")
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
