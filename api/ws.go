package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/chat"
	"lectern/hls"
	"lectern/rooms"
	"lectern/sfu"
	"lectern/storage"
)

// Websocket timing.
const (
	socketWriteTimeout = 10 * time.Second
	// socketReplies bounds the replies waiting for the writer.
	socketReplies = 64
)

// socketHandlers serve the room websocket: signaling, events, control and
// chat for one participant of a room (docs/protocol.md).
type socketHandlers struct {
	cfg   Config
	rooms *rooms.Service
	chat  *chat.Hub
	// hls takes a moderator's on-air choice.
	hls *hls.Service
	// pins and alerts tell a moderator's socket of PIN guessing.
	pins   *rooms.PINGuard
	alerts *pinAlerts
	caps   *sessionCaps
	// sockets are the open websockets, which Server.Close ends.
	sockets *openSockets
	nodes   *roomNodes
	gate    *gate
	reporter
}

func (s *socketHandlers) routes(r router) {
	r.v1.GET("/rooms/:room/ws", s.roomSocket)
}

// roomSocket serves /api/v1/rooms/{room}/ws: signaling, events and control for
// one participant (docs/protocol.md). The token is checked before the upgrade.
func (s *socketHandlers) roomSocket(c *gin.Context) {
	claims, grant, err := s.gate.participant(c)
	if err != nil {
		s.abort(c, err)
		return
	}
	if grant.Permissions == 0 {
		s.abort(c, errorf(http.StatusForbidden, codePermissionDenied, "the token allows nothing in this room"))
		return
	}
	ctx := c.Request.Context()
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	room, err := s.rooms.Open(r)
	if err != nil {
		s.abort(c, err)
		return
	}
	// Counted before the upgrade, so a refusal is a plain HTTP answer the
	// pages read again over fetch (js/lectern.js).
	appMax, err := s.rooms.ParticipantLimit(ctx, r.App)
	if err != nil {
		s.abort(c, err)
		return
	}
	release, err := s.caps.acquireInApp(sessionRoomSocket, c.ClientIP(), r.ID, claims.Identity, appMax)
	if err != nil {
		s.abort(c, err)
		return
	}
	defer release()
	conn, err := websocket.Accept(c.Writer, c.Request, s.nodes.roomSocketOptions())
	if err != nil {
		return // Accept has answered the request
	}
	ctx, done, ok := s.sockets.open(ctx)
	if !ok {
		conn.Close(websocket.StatusGoingAway, "the server is shutting down")
		return
	}
	defer done()
	conn.SetReadLimit(maxSocketMessage)
	p, err := room.Join(sfu.ParticipantOptions{
		Identity: claims.Identity, Name: claims.Name, Kind: sfu.KindBrowser,
		Permissions: grant.Permissions, Tier: grant.Tier, Sources: grant.Sources,
		AutoSubscribe: c.Query("auto_subscribe") != "false",
	})
	if err != nil {
		conn.Close(websocket.StatusInternalError, "cannot join")
		return
	}
	sess := &socketSession{s: s, conn: conn, p: p, claims: claims, roomID: r.ID, extra: grant.Sources,
		replies: make(chan any, socketReplies), chatReq: make(chan chatSubscribeRequest, 1)}
	if grant.Permissions.Has(access.Moderate) {
		var stop func()
		sess.pinAlerts, stop = s.alerts.subscribe(r.ID)
		defer stop()
	}
	reason := sess.run(ctx, r)
	p.Close(reason)
}

// socketSession is one room websocket. run owns it: its reader goroutine hands
// replies to the writer loop through replies and ends when the socket does.
type socketSession struct {
	s      *socketHandlers
	conn   *websocket.Conn
	p      *sfu.Participant
	claims access.Claims
	roomID string
	// extra are the participant's extra sources (its media override).
	extra   access.Sources
	replies chan any
	// chatReq hands chat_subscribe to the writer, which owns chatSub.
	chatReq chan chatSubscribeRequest
	chatSub atomic.Pointer[chat.Subscription]
	// pinAlerts are the room's PIN alerts, for a moderator's socket (nil otherwise).
	pinAlerts <-chan rooms.PINAlert
}

// run serves the socket until the client leaves, the participant is closed or
// the server stops, and returns why.
func (ss *socketSession) run(ctx context.Context, r storage.Room) string {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { ss.s.gate.keepAlive(ctx, ss.conn, ss.claims, ss.roomID) })
	welcome := serverMessage{Type: "welcome", Participant: ptrTo(ss.p.Info()), Permissions: ptrTo(ss.p.Permissions()),
		Room: ptrTo(ss.welcomeRoom(r)), Media: ptrTo(ss.mayPublish(r)), ICEServers: ptrTo(ss.s.cfg.iceServers(ss.claims.Identity, ss.claims.ExpiresAt))}
	if ss.p.Permissions().Has(access.List) {
		welcome.Participants = ss.p.Room().Roster()
		for _, t := range ss.p.Room().Tracks() {
			welcome.Tracks = append(welcome.Tracks, t.Info())
		}
	}
	if err := ss.write(ctx, welcome); err != nil {
		return "write failed"
	}
	readDone := make(chan string, 1)
	go func() { readDone <- ss.readLoop(ctx) }()
	reason := ss.writeLoop(ctx, readDone)
	// Close before cancelling: a cancelled context ends the read loop's Read
	// by cutting the connection, so the client would get no close frame
	// (no reason, such as "banned") if the cancel came first.
	ss.conn.Close(websocket.StatusNormalClosure, reason)
	return reason
}

// mayPublish is what the participant may send while it may publish (a
// moderator may grant publish later), as the welcome tells the pages, which
// hide the rest.
func (ss *socketSession) mayPublish(r storage.Room) rooms.MediaPolicy {
	p := rooms.Policy(r)
	p.Sources = p.Takes(ss.extra)
	return p
}

// welcomeRoom is the room as the welcome shows it: with PINs and the PIN
// alert for a moderator.
func (ss *socketSession) welcomeRoom(r storage.Room) roomJSON {
	if !ss.p.Permissions().Has(access.Moderate) {
		return roomView(r, false)
	}
	return withPINAlert(ss.s.pins, roomView(r, true))
}

// writeLoop is the only writer of the socket.
func (ss *socketSession) writeLoop(ctx context.Context, readDone <-chan string) string {
	defer ss.closeChat()
	for {
		var msg any
		chatFrames, chatDone := ss.chatChannels()
		select {
		case req := <-ss.chatReq:
			if ss.subscribeChat(ctx, req) != nil {
				return "write failed"
			}
			continue
		case f := <-chatFrames:
			msg = json.RawMessage(f.JSON)
		case <-chatDone:
			if ss.chatEnded(ctx) != nil {
				return "write failed"
			}
			continue
		case reason := <-readDone:
			return reason
		case <-ss.p.Done():
			ss.drainEvents(ctx)
			return ss.p.Reason()
		case ev := <-ss.p.Events():
			msg = ev
		case m := <-ss.replies:
			msg = m
		case a := <-ss.pinAlerts:
			if !ss.p.Permissions().Has(access.Moderate) {
				continue
			}
			msg = pinAttackEvent{Type: "pin_attack", PINAlert: a}
		}
		if err := ss.write(ctx, msg); err != nil {
			return "write failed"
		}
	}
}

// drainEvents writes what the participant was told before it closed (such as
// "removed"), so the client learns why.
func (ss *socketSession) drainEvents(ctx context.Context) {
	for {
		select {
		case ev := <-ss.p.Events():
			if ss.write(ctx, ev) != nil {
				return
			}
		default:
			return
		}
	}
}

func (ss *socketSession) write(ctx context.Context, v any) error { return writeFrame(ctx, ss.conn, v) }

// readLoop reads frames until the socket closes and returns why.
func (ss *socketSession) readLoop(ctx context.Context) string {
	for {
		typ, data, err := ss.conn.Read(ctx)
		if err != nil {
			return readEnded(ctx, err)
		}
		if typ != websocket.MessageText {
			ss.reply(ctx, errorReply("", errorf(http.StatusBadRequest, codeInvalidMessage, "frames must be JSON text")))
			continue
		}
		// A revoked token ends the socket before it acts again.
		if _, end := ss.s.gate.liveGrant(ctx, ss.claims, ss.roomID); end != "" {
			return end
		}
		if isChatFrame(messageType(data)) {
			ss.reply(ctx, ss.handleChat(ctx, data))
			continue
		}
		m, err := decodeClientMessage(data)
		if err != nil {
			ss.reply(ctx, errorReply(m.ID, apiError(err)))
			continue
		}
		if m.Type == "leave" {
			return "left"
		}
		if reply := ss.handle(ctx, m); reply != nil {
			ss.reply(ctx, reply)
		}
	}
}

// reply hands a message to the writer.
func (ss *socketSession) reply(ctx context.Context, m any) {
	select {
	case ss.replies <- m:
	case <-ctx.Done():
	}
}

func errorReply(id string, e *Error) serverMessage {
	return serverMessage{Type: "error", ID: id, Code: e.Code, Message: e.Message}
}

// handle carries out one client message and returns the reply.
func (ss *socketSession) handle(ctx context.Context, m clientMessage) any {
	p := ss.p
	var err error
	switch m.Type {
	case "ping":
		return serverMessage{Type: "pong", ID: m.ID}
	case "publish":
		var answer string
		if answer, err = p.Publish(m.SDP, m.Sources); err == nil {
			reply := serverMessage{Type: "answer", ID: m.ID, SDP: answer}
			// What the answer rejected, the client hears in the same reply.
			if err := sfu.Refused(m.SDP, p.Room().Options(), false); err != nil {
				e := mediaError(err)
				reply.Code, reply.Message = e.Code, e.Message
			}
			return reply
		}
	case "answer":
		err = p.Answer(m.SDP)
	case "candidate":
		err = p.AddCandidate(m.Target, *m.Candidate)
	case "subscribe":
		err = p.Subscribe(m.Tracks)
	case "unsubscribe":
		p.Unsubscribe(m.Tracks)
	case "layer":
		err = p.SetLayer(m.Track, m.Layer)
	case "view":
		err = p.SetView(m.Track, *m.Width, *m.Height)
	case "mute":
		err = p.SetMuted(m.Track, *m.Muted)
	case "pause":
		err = p.SetPaused(m.Track, *m.Paused)
	case "remove":
		err = p.Remove(m.Participant)
	case "targets":
		err = ss.setTargets(ctx, m.Rooms)
	case "on_air":
		err = ss.setOnAir(m)
	case "chat_subscribe":
		// The writer replies once the subscription has started.
		select {
		case ss.chatReq <- chatSubscribeRequest{id: m.ID, after: *m.After}:
		case <-ctx.Done():
		}
		return nil
	}
	if err != nil {
		return errorReply(m.ID, mediaError(err))
	}
	return serverMessage{Type: "ok", ID: m.ID}
}

// setTargets publishes into the named rooms, each of which the token must allow
// publishing in.
func (ss *socketSession) setTargets(ctx context.Context, ids []string) error {
	rooms := make([]*sfu.Room, 0, len(ids))
	for _, name := range ids {
		// The IDs are of the token's app (docs/security.md "Apps").
		id, ok := storage.ScopedKey(ss.claims.App, name)
		if !ok {
			return errorf(http.StatusNotFound, codeRoomNotFound, "room %s not found", name)
		}
		g, err := ss.s.rooms.Grant(ctx, ss.claims, id)
		if err != nil || !g.Permissions.Has(access.Publish) {
			return errorf(http.StatusForbidden, codePermissionDenied, "the token does not allow publishing in room %q", name)
		}
		r, err := ss.s.rooms.Room(ctx, id)
		if err != nil {
			return errorf(http.StatusNotFound, codeRoomNotFound, "room %s not found", name)
		}
		room, err := ss.s.rooms.Open(r)
		if err != nil {
			return err
		}
		rooms = append(rooms, room)
	}
	return ss.p.SetTargets(rooms)
}

func ptrTo[T any](v T) *T { return &v }
