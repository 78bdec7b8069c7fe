package api

import (
	"time"

	"github.com/gin-gonic/gin"

	"lectern/rooms"
)

// router is what a handler group registers its routes with: the engine, its
// /api/v1 group, and the middleware the groups share (who may call, and
// which node serves the room).
type router struct {
	e     *gin.Engine
	v1    *gin.RouterGroup
	gate  *gate
	nodes *roomNodes
}

// handlers are the route groups, each holding only what its handlers use
// (docs/architecture.md "Inside api").
type handlers struct {
	site       *siteHandlers
	rooms      *roomHandlers
	members    *memberHandlers
	tokens     *tokenHandlers
	socket     *socketHandlers
	chat       *chatHandlers
	broadcasts *broadcastHandlers
	recordings *recordingHandlers
	whip       *whipHandlers
	live       *liveHandlers
	webhooks   *webhookHandlers
	stage      *stageHandlers
	usage      *usageHandlers
	apps       *appHandlers
}

// handlers builds the route groups on the server's shared pieces and d.
// The PIN guard, its alerts, the session caps and the live sessions are
// shared by the groups that use them.
func (s *Server) handlers(d Deps) handlers {
	pins := rooms.NewPINGuard(s.cfg.pinGuard(), time.Now)
	alerts := &pinAlerts{}
	pins.OnAlert = alerts.publish
	caps := newSessionCaps(s.cfg.Caps)
	live := liveSessions{media: d.SFU, chat: d.Chat}
	return handlers{
		site:       &siteHandlers{cfg: s.cfg, db: d.DB, registry: d.Registry, reporter: s.reporter},
		rooms:      &roomHandlers{cfg: s.cfg, db: d.DB, rooms: s.rooms, pins: pins, chat: d.Chat, gate: s.gate, reporter: s.reporter},
		members:    &memberHandlers{cfg: s.cfg, db: d.DB, rooms: s.rooms, live: live, gate: s.gate, reporter: s.reporter},
		tokens:     &tokenHandlers{cfg: s.cfg, issuer: d.Issuer, rooms: s.rooms, pins: pins, reporter: s.reporter},
		socket:     &socketHandlers{cfg: s.cfg, rooms: s.rooms, chat: d.Chat, hls: s.hls, pins: pins, alerts: alerts, caps: caps, sockets: s.sockets, nodes: s.nodes, gate: s.gate, reporter: s.reporter},
		chat:       &chatHandlers{cfg: s.cfg, chat: d.Chat, rooms: s.rooms, caps: caps, sockets: s.sockets, gate: s.gate, reporter: s.reporter},
		broadcasts: &broadcastHandlers{cfg: s.cfg, rooms: s.rooms, hls: s.hls, usage: d.Usage, gate: s.gate, reporter: s.reporter},
		recordings: &recordingHandlers{cfg: s.cfg, db: d.DB, recorder: d.Recorder, reporter: s.reporter},
		whip:       &whipHandlers{cfg: s.cfg, rooms: s.rooms, whip: s.whip, caps: caps, gate: s.gate, edges: d.Cascade, reporter: s.reporter},
		live:       &liveHandlers{cfg: s.cfg, media: d.SFU, hls: s.hls, nodes: s.nodes, gate: s.gate, reporter: s.reporter},
		webhooks:   &webhookHandlers{cfg: s.cfg, db: d.DB, reporter: s.reporter},
		apps:       &appHandlers{cfg: s.cfg, db: d.DB, rooms: s.rooms, hls: s.hls, caps: caps, gate: s.gate, reporter: s.reporter},
		stage:      &stageHandlers{cfg: s.cfg, stage: s.stage, caps: caps, sockets: s.sockets, nodes: s.nodes, gate: s.gate, reporter: s.reporter},
		usage:      &usageHandlers{cfg: s.cfg, db: d.DB, usage: d.Usage, gate: s.gate, reporter: s.reporter},
	}
}
