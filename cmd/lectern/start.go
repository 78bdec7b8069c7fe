package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"lectern/access"
	"lectern/api"
	"lectern/chat"
	"lectern/hls"
	"lectern/ingest"
	"lectern/program"
	"lectern/rooms"
	"lectern/rtspout"
	"lectern/sfu"
	"lectern/storage"
	"lectern/usage"
)

// openStore opens the database and makes sure it holds an admin key and the
// token signing key.
func (p *process) openStore(ctx context.Context) error {
	db, err := storage.Open(ctx, p.cfg.DatabaseURL, p.cfg.DataDir)
	if err != nil {
		return err
	}
	p.db = db
	p.onStop(func() { db.Close() })
	p.log.Info("database opened", "backend", db.Backend(), "path", db.Path())
	// Webhooks run from here to the end, so that what happens while the
	// rest stops is still stored in their outbox.
	if p.hooks, err = openWebhooks(p.cfg, db, p.log); err != nil {
		return err
	}
	if p.hooks != nil {
		p.goRun("webhooks", p.hooks.run)
	}

	if p.newKey, err = api.EnsureAdminKey(ctx, db, p.cfg.AdminKey); err != nil {
		return err
	}
	p.key, err = db.Secret(ctx, signingKeyName, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return err
	}
	p.issuer, err = access.NewIssuer(p.key)
	return err
}

// listen opens the HTTP listener, with TLS from certificate files or ACME,
// settles the public URL, and starts the embedded TURN server if configured.
func (p *process) listen(ctx context.Context) error {
	cfg := p.cfg
	p.apiCfg = cfg.apiConfig()
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls_cert, tls_key: %w", err)
		}
		p.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http_addr: %w", err)
	}
	p.ln = ln
	p.onStop(func() { ln.Close() }) // already closed after a served start
	if cfg.ACME.Host != "" {
		acmeConfig, acmeURL, stopACME, err := acmeTLS(cfg, ln.Addr(), p.log)
		if err != nil {
			return err
		}
		p.onStop(stopACME)
		p.tls = acmeConfig
		if p.apiCfg.PublicURL == "" {
			p.apiCfg.PublicURL = acmeURL
		}
	}
	if p.apiCfg.PublicURL == "" {
		p.apiCfg.PublicURL = derivePublicURL(ln.Addr(), p.tls != nil)
	}
	turnSrv, stopTURN, err := startTURN(ctx, cfg, p.db, p.tls, p.apiCfg.PublicURL, p.log)
	if err != nil {
		return err
	}
	p.onStop(stopTURN)
	p.turn = turnSrv
	p.apiCfg.ICEServers = iceServersOf(turnSrv)
	if p.tls != nil {
		p.ln = tls.NewListener(ln, p.tls)
	}
	return nil
}

// startMedia starts the SFU, the rooms' programs and RTSP out, the broadcast
// (HLS) service and the recorder, builds the room rules on them, then the RTSP
// server and cluster membership.
func (p *process) startMedia(ctx context.Context) error {
	cfg := p.cfg
	media, err := sfu.New(cfg.sfuConfig(), p.log)
	if err != nil {
		return err
	}
	p.media = media
	p.onStop(func() { media.Close() })
	// One program per room, consumed by the HLS muxer, the recorder and RTSP out.
	progs := program.NewSet(media, p.log)
	p.onStop(progs.Close)
	out := rtspout.New(progs, p.log)
	p.onStop(out.Close)
	hlsCfg := hls.DefaultConfig()
	hlsCfg.PartDuration, hlsCfg.SegmentDuration = cfg.HLSPartDuration, cfg.HLSSegmentDuration
	hlsCfg.CDNURL = cfg.HLSCDNURL
	if p.broadcast, err = hls.New(hlsCfg, progs, p.key, p.log); err != nil {
		return err
	}
	p.onStop(func() { p.broadcast.Close() })
	if err := useHLSCDN(ctx, cfg, p.broadcast, p.log); err != nil {
		return err
	}
	if p.recorder, err = newRecorder(ctx, cfg, p.db, progs, p.key, p.log); err != nil {
		return err
	}
	p.hooks.attach(media, p.broadcast, p.recorder, p.apiCfg.PublicURL)
	p.onStop(func() { // after an early return; a no-op after serve's shutdown
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		stopRecorder(ctx, p.recorder, p.log)
	})
	// The room rules come before both front ends (API and RTSP), which share them.
	roomsCfg := rooms.DefaultConfig()
	roomsCfg.Clustered, roomsCfg.MaxTokenTTL = cfg.Cluster.Enabled, p.apiCfg.MaxTokenTTL
	roomDeps := rooms.Deps{DB: p.db, Issuer: p.issuer, Media: media, Broadcast: p.broadcast, Log: p.log}
	if p.recorder != nil {
		roomDeps.Recorder = p.recorder
	}
	if p.rooms, err = rooms.New(roomsCfg, roomDeps); err != nil {
		return err
	}
	if p.rtsp, err = ingest.New(cfg.ingestConfig(), &rtspAuth{rooms: p.rooms}, media, out, p.log); err != nil {
		return err
	}
	p.apiCfg.RTSPURL = deriveRTSPURL(p.apiCfg.PublicURL, p.rtsp.Addr())
	// Clustering (cluster: true on PostgreSQL) registers this node; nil otherwise.
	if p.cluster, err = joinCluster(ctx, cfg, p.db, media, p.rtsp, p.apiCfg.PublicURL, p.apiCfg.RTSPURL, p.log); err != nil {
		return err
	}
	p.onStop(p.cluster.leave)
	p.rtsp.Placer = p.cluster.rtspPlacer()
	if cfg.Cluster.Enabled {
		// Encoders that reach a node that does not hold their room are
		// relayed to the one that does (ingest/relay.go), marked with the
		// secret every node shares.
		p.rtsp.RelaySecret = p.key
		// Clients keep these URLs: they must outlive this node.
		p.apiCfg.ServiceURL = cfg.Cluster.ServiceURL
		if cfg.Cluster.IngestURL != "" {
			p.apiCfg.RTSPURL = strings.TrimSuffix(cfg.Cluster.IngestURL, "/")
		} else {
			p.log.Warn("ingest_url is not set: stream keys name this node's RTSP URL, which dies with it", "rtsp_url", p.apiCfg.RTSPURL)
		}
	}
	return nil
}

// startAPI builds the chat hub and the API, then runs the RTSP server and
// the chat hub and starts the broadcasts the rooms ask for.
func (p *process) startAPI(ctx context.Context) error {
	hub, err := chat.New(p.hooks.chatConfig(chat.DefaultConfig()), p.db, p.log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.hooks.register(reg)
	node, err := usageNode(p.cfg)
	if err != nil {
		return err
	}
	tracker, err := usage.New(p.cfg.Usage.tracker(node), p.db, reg, p.log)
	if err != nil {
		return err
	}
	p.srv, err = api.New(p.apiCfg, api.Deps{DB: p.db, Issuer: p.issuer, Registry: reg, Log: p.log, SFU: p.media,
		Chat: hub, HLS: p.broadcast, Recorder: p.recorder, Placer: p.cluster.httpPlacer(), Rooms: p.rooms, Fenced: p.cluster.fenced(),
		OnStageEvent: p.hooks.stageHook(), Usage: tracker, Cascade: p.edges(reg)})
	if err != nil {
		return err
	}
	p.onStop(p.srv.Close)
	p.rtsp.Guesses = p.srv.StreamKeyGuesses()
	if p.cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(p.cfg.DebugAddr, p.log)
		if err != nil {
			return err
		}
		p.onStop(stopDebug)
	}
	p.goRun("rtsp server", p.rtsp.Run)
	// Stops before the API (its last flush ends the sessions still open).
	p.goRun("usage", tracker.Run)
	// The chat hub stops after the HTTP server (stop runs after serve): its
	// end closes the chat websockets, which the server's Shutdown does not
	// wait for.
	p.goRun("chat hub", hub.Run)
	return p.rooms.StartBroadcasts(ctx)
}
