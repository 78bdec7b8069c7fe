package api

import "github.com/gin-gonic/gin"

// router is what a handler group registers its routes with: the engine, its
// /api/v1 group, and the middleware the groups share (who may call, and
// which node serves the room).
type router struct {
	e     *gin.Engine
	v1    *gin.RouterGroup
	gate  *gate
	nodes *roomNodes
}

// handlers are the route groups, each holding only what its handlers use.
type handlers struct {
	site       *siteHandlers
	whip       *whipHandlers
	socket     *socketHandlers
	chat       *chatHandlers
	broadcasts *broadcastHandlers
	recordings *recordingHandlers
	live       *liveHandlers
	webhooks   *webhookHandlers
	tokens     *tokenHandlers
	members    *memberHandlers
	rooms      *roomHandlers
}

// handlers builds the route groups on the server's shared pieces and d.
func (s *Server) handlers(d Deps) handlers {
	return handlers{
		site:       &siteHandlers{cfg: s.cfg, db: d.DB, registry: d.Registry, reporter: s.reporter},
		whip:       &whipHandlers{cfg: s.cfg, rooms: s.rooms, whip: s.whip, caps: s.caps, gate: s.gate, reporter: s.reporter},
		socket:     &socketHandlers{cfg: s.cfg, rooms: s.rooms, chat: d.Chat, hls: s.hls, pins: s.pins, alerts: s.alerts, caps: s.caps, nodes: s.nodes, gate: s.gate, reporter: s.reporter},
		chat:       &chatHandlers{cfg: s.cfg, chat: d.Chat, db: d.DB, caps: s.caps, gate: s.gate, reporter: s.reporter},
		broadcasts: &broadcastHandlers{cfg: s.cfg, rooms: s.rooms, hls: s.hls, gate: s.gate, reporter: s.reporter},
		recordings: &recordingHandlers{cfg: s.cfg, db: d.DB, recorder: d.Recorder, reporter: s.reporter},
		live:       &liveHandlers{cfg: s.cfg, media: d.SFU, hls: s.hls, nodes: s.nodes, gate: s.gate, reporter: s.reporter},
		webhooks:   &webhookHandlers{cfg: s.cfg, db: d.DB, reporter: s.reporter},
		tokens:     &tokenHandlers{cfg: s.cfg, issuer: d.Issuer, rooms: s.rooms, pins: s.pins, reporter: s.reporter},
		members:    &memberHandlers{cfg: s.cfg, db: d.DB, rooms: s.rooms, live: s.live, gate: s.gate, reporter: s.reporter},
		rooms:      &roomHandlers{cfg: s.cfg, db: d.DB, rooms: s.rooms, pins: s.pins, chat: d.Chat, gate: s.gate, reporter: s.reporter},
	}
}
