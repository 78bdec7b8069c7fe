// Package api is Lectern's HTTP surface: the REST API under /api/v1 (rooms,
// members, tokens, chat, broadcast, recordings), the room and chat websockets
// (WebRTC signaling and events), WHIP and WHEP, the HLS playlists and media
// for viewers, health and metrics, and the embedded pages. Handlers ask
// package rooms for credentials and room rules (what a token allows now,
// PINs, stream keys, media, broadcast and chat settings), then hand media to
// sfu, broadcasts to hls and recordings to hls/record.
//
// Server runs the middleware and registers the routes of the handler groups,
// one per concern (roomHandlers, memberHandlers, tokenHandlers,
// socketHandlers, chatHandlers, broadcastHandlers, recordingHandlers,
// whipHandlers, liveHandlers, webhookHandlers, siteHandlers, stageHandlers).
// Each group is a small struct holding only what its handlers use; the pieces they share
// are gate (who is calling, the path's room), roomNodes (which node serves a
// room), liveSessions, sessionCaps and reporter (error answers and the log).
// docs/architecture.md "Inside api" lists what each group holds.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/chat"
	"lectern/hls"
	"lectern/hls/record"
	"lectern/program"
	"lectern/rooms"
	"lectern/sfu"
	"lectern/storage"
	"lectern/usage"
)

// Config is the API's configuration.
type Config struct {
	// PublicURL is the externally reachable base URL, used in links the API returns.
	PublicURL string
	// RTSPURL is the externally reachable RTSP base, such as rtsp://host:8554.
	RTSPURL string
	// ServiceURL is the base URL of the service as a whole when several
	// nodes serve it (a load balancer or DNS name over every node): the
	// WHIP and HLS URLs the API hands out name it, so that they outlive any
	// one node. "": PublicURL.
	ServiceURL string
	// WebhookURL is where webhook events go ("": none), shown in the console.
	WebhookURL string
	// TokenTTL is the default lifetime of tokens minted by join and /tokens.
	TokenTTL time.Duration
	// MaxTokenTTL caps the lifetime an API key holder may ask for.
	MaxTokenTTL time.Duration
	// MaxBodyBytes caps every JSON request body.
	MaxBodyBytes int64
	// PingInterval is how often the room and chat websockets ping their
	// clients; one that does not answer within the interval is dropped.
	PingInterval time.Duration
	// BodyTimeout is how long a request body may take to arrive once its
	// header has: a client that trickles one is cut with 408.
	BodyTimeout time.Duration
	// JoinFailuresPerAddr is how many wrong PINs a client address may send
	// for one room per minute before its further joins to that room get 429.
	JoinFailuresPerAddr int
	// JoinFailuresPerRoom is how many wrong PINs for one room per minute,
	// from all addresses together, make a flood: the room's PIN checks are
	// then metered at FloodPINChecksPerSecond and its moderators alerted
	// (docs/security.md "PIN guessing"). Tokens are never affected.
	JoinFailuresPerRoom int
	// FloodPINChecksPerSecond is the rate of PIN checks a flooded room allows.
	FloodPINChecksPerSecond float64
	// JoinsPerAddr is how many PIN joins, right PINs included, a client
	// address may make per minute: each mints a new identity.
	JoinsPerAddr int
	// KeyFailuresPerAddr is how many wrong API keys, and apart from them wrong
	// stream keys (WHIP and RTSP together), a client address may send per
	// minute before its further tries with that kind of key are refused.
	KeyFailuresPerAddr int
	// Caps bound the sessions per client address and per room.
	Caps Caps
	// TrustedProxies are the proxy addresses (CIDRs) whose X-Forwarded-For is
	// believed for the client address. Empty: the connection's address is used.
	TrustedProxies []string
	// EmbedOrigins are the origins (https://example.com) whose pages may frame
	// the watch page. Empty: no site may frame any page.
	EmbedOrigins []string
	// ICEServers returns the STUN/TURN servers, with credentials for identity
	// valid until the given time, that join, tokens, the room websocket and
	// WHIP/WHEP hand to clients. Nil: none; clients reach the SFU directly.
	ICEServers func(identity string, until time.Time) []ICEServer
	// Stage bounds the webinar stage (guests on stage, invitations, raised hands).
	Stage rooms.StageConfig
}

// DefaultConfig returns the defaults a newcomer gets.
func DefaultConfig() Config {
	return Config{
		TokenTTL:                6 * time.Hour,
		MaxTokenTTL:             7 * 24 * time.Hour,
		MaxBodyBytes:            64 << 10,
		BodyTimeout:             10 * time.Second,
		PingInterval:            15 * time.Second,
		JoinFailuresPerAddr:     5,
		JoinFailuresPerRoom:     50,
		FloodPINChecksPerSecond: 1,
		JoinsPerAddr:            30,
		KeyFailuresPerAddr:      10,
		Caps:                    DefaultCaps(),
		Stage:                   rooms.DefaultStageConfig(),
	}
}

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	switch {
	case c.TokenTTL < time.Minute:
		return errors.New("token_ttl: must be at least 1m")
	case c.MaxTokenTTL < c.TokenTTL:
		return errors.New("max_token_ttl: must be at least token_ttl")
	case c.MaxBodyBytes < 1024:
		return errors.New("max_body_bytes: must be at least 1024")
	case c.BodyTimeout < time.Second:
		return errors.New("http_body_timeout: must be at least 1s")
	case c.PingInterval < time.Second:
		return errors.New("ws_ping_interval: must be at least 1s")
	case c.JoinFailuresPerAddr < 1:
		return errors.New("join_failures_per_addr: must be at least 1")
	case c.JoinFailuresPerRoom < 1 || c.JoinFailuresPerRoom > 6000:
		// Above 100 a second, the room's guessing rate is no longer bounded
		// by the flood meter (docs/security.md "PIN guessing").
		return errors.New("join_failures_per_room: must be 1 to 6000")
	case c.FloodPINChecksPerSecond <= 0 || c.FloodPINChecksPerSecond > 100:
		return errors.New("flood_pin_checks_per_second: must be above 0 and at most 100")
	case c.JoinsPerAddr < 1:
		return errors.New("joins_per_addr: must be at least 1")
	case c.KeyFailuresPerAddr < 1:
		return errors.New("key_failures_per_addr: must be at least 1")
	}
	if err := c.Caps.validate(); err != nil {
		return err
	}
	if err := c.Stage.Validate(); err != nil {
		return err
	}
	for _, o := range c.EmbedOrigins {
		if err := validEmbedOrigin(o); err != nil {
			return err
		}
	}
	return nil
}

// pinGuard is the PIN guard's configuration.
func (c Config) pinGuard() rooms.PINGuardConfig {
	g := rooms.DefaultPINGuardConfig()
	g.FailuresPerAddr, g.FloodFailures = c.JoinFailuresPerAddr, c.JoinFailuresPerRoom
	g.FloodChecksPerSecond, g.JoinsPerAddr = c.FloodPINChecksPerSecond, c.JoinsPerAddr
	return g
}

// Deps are the components the API serves.
type Deps struct {
	DB     *storage.DB
	Issuer *access.Issuer
	// Registry receives the API's metrics and is served at /metrics.
	Registry *prometheus.Registry
	Log      *slog.Logger
	// SFU carries the rooms' media (websocket signaling, WHIP, WHEP).
	SFU *sfu.SFU
	// HLS broadcasts rooms (on air, LL-HLS). Nil: one with the default
	// configuration and a random session key, which Close closes.
	HLS *hls.Service
	// Chat stores and delivers chat messages; running it is the caller's.
	Chat *chat.Hub
	// Recorder records rooms with broadcast.record on and serves their
	// recordings. Nil: nothing is recorded; the recordings API lists rows only.
	Recorder *record.Recorder
	// Placer sends media requests for rooms that live on another node there
	// (api/placement.go). Nil: one node, every room is served here.
	Placer Placer
	// Cascade serves here the WHEP viewers of rooms that live on another
	// node, from an edge that pulls the room once (api/edge.go). Nil: they
	// are redirected to the room's node.
	Cascade Cascade
	// OnStageEvent, if set, gets every change of every room's stage on this
	// node, in order (rooms.Stage.OnEvent: it must not block). Nil: none.
	OnStageEvent func(rooms.StageEvent)
	// Rooms answers the room rules (grants, revocation, broadcast settings).
	// Nil: one built on DB, Issuer, SFU, HLS and Recorder, clustered when
	// Placer is set.
	Rooms *rooms.Service
	// Fenced, if set, reports that this node may have been judged dead by
	// its cluster (cluster.Node.Fenced): every request but /healthz is
	// refused with 503 (api/fence.go). Nil: never.
	Fenced func() bool
	// Usage counts usage and attendance: New hands it the SFU's participants
	// and the HLS viewers' playlist requests, and serves its reports; its
	// Run is the caller's. Nil: one with the default configuration that is
	// never run, so it writes only when a report is asked for (tests).
	Usage *usage.Tracker
}

// Server serves the HTTP API: it runs the middleware every request passes
// and registers the routes of the handler groups (routes.go), which it builds
// on Deps. Build it with New; the goroutines it starts belong to websockets
// and to WHIP and WHEP sessions, which Close ends.
type Server struct {
	cfg     Config
	metrics *metrics
	guesses *guessThrottle
	gate    *gate
	nodes   *roomNodes
	engine  *gin.Engine
	// whip are the open WHIP and WHEP sessions, which Close ends.
	whip *whipSessions
	// sockets are the open websockets (room, chat, stage), which Close ends.
	sockets *openSockets
	hls     *hls.Service
	ownsHLS bool // hls was made by New, so Close closes it
	// ownProgs are the programs of an hls made by New, closed with it.
	ownProgs *program.Set
	rooms    *rooms.Service
	// stage is every room's webinar stage on this node.
	stage *rooms.Stage
	// fenced is Deps.Fenced.
	fenced func() bool
	// unwatchUsage stops handing the SFU's events to Deps.Usage.
	unwatchUsage func()
	reporter
}

// New builds the API on its dependencies.
func New(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.DB == nil || d.Issuer == nil || d.Registry == nil || d.Log == nil || d.SFU == nil || d.Chat == nil {
		return nil, errors.New("api: every dependency is required")
	}
	m, err := newMetrics(d.Registry, d.DB, d.SFU)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		metrics:  m,
		guesses:  newGuessThrottle(cfg.KeyFailuresPerAddr, time.Now),
		hls:      d.HLS,
		reporter: reporter{d.Log},
		whip:     &whipSessions{},
		sockets:  newOpenSockets(),
		fenced:   d.Fenced,
	}
	s.nodes = &roomNodes{placer: d.Placer, reporter: s.reporter, edge: edgeServing{cascade: d.Cascade, sessions: s.whip}}
	if s.hls == nil {
		// Tests leave HLS out: a service on programs of its own, which
		// stop when the service releases them (Close).
		s.ownProgs = program.NewSet(d.SFU, d.Log)
		if s.hls, err = hls.New(hls.DefaultConfig(), s.ownProgs, []byte(randomHex(32)), d.Log); err != nil {
			s.ownProgs.Close()
			return nil, err
		}
		s.ownsHLS = true
	}
	if s.rooms = d.Rooms; s.rooms == nil {
		if s.rooms, err = newRooms(cfg, d, s.hls); err != nil {
			return nil, err
		}
	}
	s.gate = &gate{issuer: d.Issuer, rooms: s.rooms, ping: cfg.PingInterval, reporter: s.reporter}
	if s.stage, err = newStage(cfg.Stage, s.rooms, d); err != nil {
		return nil, err
	}
	if err := registerHLSMetrics(d.Registry, s.hls); err != nil {
		return nil, err
	}
	if d.Usage == nil {
		cfg := usage.DefaultConfig()
		cfg.Node = "local"
		if d.Usage, err = usage.New(cfg, d.DB, d.Registry, d.Log); err != nil {
			return nil, err
		}
	}
	if err := s.buildEngine(s.handlers(d)); err != nil {
		return nil, err
	}
	s.unwatchUsage = watchUsage(d.SFU, d.Usage)
	return s, nil
}

// newRooms builds the rooms service for a server whose caller did not.
func newRooms(cfg Config, d Deps, broadcast *hls.Service) (*rooms.Service, error) {
	rc := rooms.DefaultConfig()
	rc.Clustered, rc.MaxTokenTTL = d.Placer != nil, cfg.MaxTokenTTL
	deps := rooms.Deps{DB: d.DB, Issuer: d.Issuer, Media: d.SFU, Broadcast: broadcast, Log: d.Log}
	if d.Recorder != nil {
		deps.Recorder = d.Recorder
	}
	return rooms.New(rc, deps)
}

// StartBroadcasts starts the broadcast of every stored room with HLS or
// recording on, for a server that just started (rooms.Service.StartBroadcasts).
func (s *Server) StartBroadcasts(ctx context.Context) error { return s.rooms.StartBroadcasts(ctx) }

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return s.engine }

// Close ends the room, chat and stage websockets (the HTTP server's Shutdown
// does not wait for upgraded connections) and the WHIP and WHEP sessions
// (their clients see the connection close), returns once their handlers and
// watchers have ended, and closes the HLS service if New made it (Deps.HLS
// nil). Call it after the HTTP server has shut down, before the SFU closes.
func (s *Server) Close() {
	s.sockets.close()
	s.whip.mu.Lock()
	live := make([]*whipSession, 0, len(s.whip.m))
	for _, ws := range s.whip.m {
		live = append(live, ws)
	}
	s.whip.mu.Unlock()
	for _, ws := range live {
		ws.p.Close("the server is shutting down")
	}
	s.whip.wait()
	s.unwatchUsage()
	if s.ownsHLS {
		s.hls.Close()
		s.ownProgs.Close()
	}
}

func (s *Server) buildEngine(g handlers) error {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return errors.New("trusted_proxies: " + err.Error())
	}
	e.Use(s.requestID, s.observe, s.baseHeaders, s.recover, s.refuseFenced, s.bodyDeadline, s.limitGuesses, s.gate.scopeRoom, s.nodes.placement)
	e.NoRoute(func(c *gin.Context) {
		s.abort(c, errorf(http.StatusNotFound, codeNotFound, "no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		s.abort(c, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "method %s is not allowed here", c.Request.Method))
	})
	s.engine = e
	s.routes(g)
	return nil
}

// routes registers every endpoint, each group its own. openapi.json must
// describe exactly these (TestOpenAPIMatchesRoutes).
func (s *Server) routes(g handlers) {
	r := router{e: s.engine, v1: s.engine.Group("/api/v1"), gate: s.gate, nodes: s.nodes}
	g.site.routes(r)
	g.rooms.routes(r)
	g.members.routes(r)
	g.tokens.routes(r)
	g.socket.routes(r)
	g.chat.routes(r)
	g.broadcasts.routes(r)
	g.recordings.routes(r)
	g.whip.routes(r)
	g.live.routes(r)
	g.webhooks.routes(r)
	g.stage.routes(r)
	g.usage.routes(r)
	g.apps.routes(r)
}
