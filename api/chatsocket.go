package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/chat"
	"lectern/storage"
)

// Chat websocket close codes (private range, RFC 6455 section 7.4.2).
const (
	// closeTooSlow: the client fell too far behind; it reconnects with
	// after=<last seq>, nothing is lost.
	closeTooSlow websocket.StatusCode = 4008
	// closeNoReceive: the member lost the receive permission.
	closeNoReceive websocket.StatusCode = 4003
	// closeRoomDeleted: the room was deleted.
	closeRoomDeleted websocket.StatusCode = 4004
)

// closeGrace is how long a session whose subscription ended may take to
// tell its client before its connection is cut.
const closeGrace = 5 * time.Second

// chatWelcome is the first frame of a chat websocket.
type chatWelcome struct {
	Type        string             `json:"type"`
	Room        string             `json:"room"`
	Mode        string             `json:"mode"`
	Identity    string             `json:"identity"`
	Name        string             `json:"name"`
	Permissions access.Permissions `json:"permissions"`
	Chat        chatSettingsJSON   `json:"chat"`
}

// chatReady ends the backlog: live frames follow, after seq.
type chatReady struct {
	Type string `json:"type"`
	Seq  int64  `json:"seq"`
	// Earlier says older messages than the backlog's may exist: GET
	// .../messages?before=<the oldest id shown> pages through them.
	Earlier bool `json:"earlier,omitempty"`
}

// chatSocket serves /api/v1/rooms/{room}/chat/ws: one member's live chat,
// for clients without WebRTC such as HLS viewers (docs/protocol.md "Chat").
// The token (receive, and send to post) is checked before the upgrade.
func (s *chatHandlers) chatSocket(c *gin.Context) {
	claims, grant, err := s.gate.participant(c)
	if err != nil {
		s.abort(c, err)
		return
	}
	if !grant.Permissions.Has(access.Receive) {
		s.abort(c, errorf(http.StatusForbidden, codePermissionDenied, "the chat websocket needs the receive permission"))
		return
	}
	after, err := queryInt(c, "after", chat.Latest, 0, 1<<62)
	if err != nil {
		s.abort(c, err)
		return
	}
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	release, err := s.caps.acquire(sessionChatSocket, c.ClientIP(), r.ID, claims.Identity)
	if err != nil {
		s.abort(c, err)
		return
	}
	defer release()
	v := chat.Viewer{Identity: claims.Identity, Name: claims.Name, Permissions: grant.Permissions}
	ctx := c.Request.Context()
	sub, err := s.chat.Subscribe(ctx, r.ID, v, after)
	if err != nil {
		s.abort(c, chatError(err))
		return
	}
	defer sub.Close()
	conn, err := websocket.Accept(bufferedHijack{c.Writer}, c.Request, nil)
	if err != nil {
		return // Accept has answered the request
	}
	ctx, done, ok := s.sockets.open(ctx)
	if !ok {
		conn.Close(websocket.StatusGoingAway, "the server is shutting down")
		return
	}
	defer done()
	conn.SetReadLimit(maxChatFrame)
	log := s.log.With("room", r.ID, "identity", v.Identity)
	log.Info("chat socket opened", "after", after)
	sess := &chatSession{s: s, conn: conn, room: r, claims: claims, viewer: v, sub: sub, replies: make(chan any, socketReplies)}
	reason := sess.run(ctx)
	log.Info("chat socket closed", "reason", reason)
}

// chatSession is one chat websocket. run owns it: a reader goroutine handles
// the client's frames and hands replies to the writer loop, which is the only
// writer of the socket; a watcher cuts the connection if the writer cannot
// close it in time after the subscription ends.
type chatSession struct {
	s       *chatHandlers
	conn    *websocket.Conn
	room    storage.Room
	claims  access.Claims
	viewer  chat.Viewer
	sub     *chat.Subscription
	replies chan any
}

func (cs *chatSession) run(ctx context.Context) string {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		select {
		case <-cs.sub.Done():
			select {
			case <-time.After(closeGrace):
				cancel()
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	})
	readDone := make(chan string, 1)
	wg.Go(func() { readDone <- cs.readLoop(ctx) })
	wg.Go(func() { cs.s.gate.keepAlive(ctx, cs.conn, cs.claims, cs.room.ID) })

	code, reason := cs.writeLoop(ctx, readDone)
	cs.conn.Close(code, reason)
	return reason
}

// writeLoop writes the welcome, the backlog, then live frames and replies,
// and returns how to close.
func (cs *chatSession) writeLoop(ctx context.Context, readDone <-chan string) (websocket.StatusCode, string) {
	welcome := chatWelcome{Type: "chat_welcome", Room: cs.room.ID, Mode: cs.room.Mode, Identity: cs.viewer.Identity,
		Name: cs.viewer.Name, Permissions: cs.viewer.Permissions, Chat: chatSettingsView(cs.room)}
	if err := cs.writeJSON(ctx, welcome); err != nil {
		return websocket.StatusInternalError, "write failed"
	}
	if err := writeChatBacklog(ctx, cs.sub, func(data []byte) error { return cs.write(ctx, data) }); err != nil {
		return websocket.StatusInternalError, "cannot send the backlog"
	}
	for {
		var err error
		select {
		case f := <-cs.sub.Frames():
			err = cs.write(ctx, f.JSON)
		case r := <-cs.replies:
			err = cs.writeJSON(ctx, r)
		case reason := <-readDone:
			return websocket.StatusNormalClosure, reason
		case <-cs.sub.Done():
			return subscriptionClose(cs.sub.Err())
		}
		if err != nil {
			return websocket.StatusInternalError, "write failed"
		}
	}
}

// subscriptionClose says how to close a socket whose subscription ended.
func subscriptionClose(err error) (websocket.StatusCode, string) {
	switch {
	case errors.Is(err, chat.ErrTooSlow):
		return closeTooSlow, "too_slow: reconnect with after=<last seq>"
	case errors.Is(err, chat.ErrNoReceive):
		return closeNoReceive, "permission_denied: the receive permission was revoked"
	case errors.Is(err, chat.ErrRoomNotFound):
		return closeRoomDeleted, "room_not_found: the room was deleted"
	}
	return websocket.StatusGoingAway, "server closing"
}

func (cs *chatSession) writeJSON(ctx context.Context, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return cs.write(ctx, data)
}

func (cs *chatSession) write(ctx context.Context, data []byte) error {
	return cs.conn.Write(ctx, websocket.MessageText, data)
}

// readLoop handles the client's frames until the socket closes and returns why.
func (cs *chatSession) readLoop(ctx context.Context) string {
	for {
		typ, data, err := cs.conn.Read(ctx)
		if err != nil {
			return readEnded(ctx, err)
		}
		if typ != websocket.MessageText {
			cs.reply(ctx, chatErrorReply("", errorf(http.StatusBadRequest, codeInvalidMessage, "frames must be JSON text")))
			continue
		}
		f, err := decodeChatFrame(data)
		switch {
		case err != nil:
			cs.reply(ctx, chatErrorReply(f.ID, err))
		case f.Type == "leave":
			return "left"
		case f.Type == "ping":
			cs.reply(ctx, chatReply{Type: "pong", ID: f.ID})
		default:
			// The token's current grant (rooms.Service.Grant) bounds what
			// the subscription's viewer may do; a revoked token ends the
			// socket.
			perms, end := cs.s.gate.liveGrant(ctx, cs.claims, cs.room.ID)
			if end != "" {
				return end
			}
			v := cs.sub.Viewer()
			v.Permissions &= perms
			cs.reply(ctx, chatCommand(ctx, cs.s.chat, cs.room.ID, v, f))
		}
	}
}

// reply hands a message to the writer.
func (cs *chatSession) reply(ctx context.Context, m any) {
	select {
	case cs.replies <- m:
	case <-ctx.Done():
	}
}

// chatCommand carries out one chat frame (isChatFrame) from viewer v in a
// room and returns the reply: chat_sent once a message is stored, ok with the
// changed message, or an error. The room websocket may call it too.
func chatCommand(ctx context.Context, hub *chat.Hub, roomID string, v chat.Viewer, f chatFrame) chatReply {
	var m chat.Message
	var err error
	typ := "ok"
	switch f.Type {
	case chatSend:
		m, err = hub.Post(ctx, roomID, v, *f.Text, f.To)
		typ = "chat_sent"
	case chatDelete:
		m, err = hub.Delete(ctx, roomID, v, f.Message)
	case chatApprove:
		m, err = hub.Approve(ctx, roomID, v, f.Message)
	case chatAnswer:
		m, err = hub.Answer(ctx, roomID, v, f.Message)
	case chatMute:
		if *f.Seconds == 0 {
			err = hub.Unmute(ctx, roomID, v, f.Identity)
		} else {
			_, err = hub.Mute(ctx, roomID, v, f.Identity, time.Duration(*f.Seconds)*time.Second)
		}
		if err == nil {
			return chatReply{Type: "ok", ID: f.ID}
		}
	default:
		err = errorf(http.StatusBadRequest, codeInvalidMessage, "type: %q is not a chat message", f.Type)
	}
	if err != nil {
		return chatErrorReply(f.ID, err)
	}
	return chatReply{Type: typ, ID: f.ID, Chat: &m}
}
