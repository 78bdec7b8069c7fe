package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
)

// maxStageFrame bounds a client's frame on the stage websocket.
const maxStageFrame = 4 << 10

// stageWelcome is the first frame of a stage websocket: the stage as the
// client may see it (a moderator all of it, anyone else their own hand,
// invitation and turn on stage).
type stageWelcome struct {
	Type      string           `json:"type"`
	Room      string           `json:"room"`
	Identity  string           `json:"identity"`
	Moderator bool             `json:"moderator"`
	State     rooms.StageState `json:"state"`
}

// stageEventFrame carries one stage event.
type stageEventFrame struct {
	Type string `json:"type"`
	rooms.StageEvent
}

// stageReply answers a client's frame: ok (with what changed) or error.
type stageReply struct {
	Type       string            `json:"type"`
	ID         string            `json:"id,omitempty"`
	Code       string            `json:"code,omitempty"`
	Message    string            `json:"message,omitempty"`
	Hand       *rooms.Hand       `json:"hand,omitempty"`
	Invitation *rooms.Invitation `json:"invitation,omitempty"`
	Stage      *stageToken       `json:"stage,omitempty"`
}

// stageToken is what an accepted invitation gives: a token whose grant
// allows publishing in the room until the guest's turn ends.
type stageToken struct {
	Token       string             `json:"token"`
	ExpiresAt   time.Time          `json:"expires_at"`
	Permissions access.Permissions `json:"permissions"`
	Tier        access.Tier        `json:"tier"`
	ICEServers  []ICEServer        `json:"ice_servers"`
}

func stageErrorReply(id string, err error) stageReply {
	e := apiError(stageError(err))
	return stageReply{Type: "error", ID: id, Code: e.Code, Message: e.Message}
}

// socket serves /api/v1/rooms/{room}/stage/ws for anyone with a grant in the
// room: a viewer raises and lowers a hand and answers an invitation, a
// moderator sees the queue and invites. When the socket closes, its
// identity's hand, invitation and turn on stage end with it.
func (a *stageHandlers) socket(c *gin.Context) {
	claims, grant, err := a.gate.participant(c)
	if err != nil {
		a.abort(c, err)
		return
	}
	if grant.Permissions == 0 {
		a.abort(c, errorf(http.StatusForbidden, codePermissionDenied, "the token allows nothing in this room"))
		return
	}
	// Counted as a chat socket is: against max_sockets_per_addr.
	release, err := a.caps.acquire(sessionChatSocket, c.ClientIP(), c.Param("room"), claims.Identity)
	if err != nil {
		a.abort(c, err)
		return
	}
	defer release()
	conn, err := websocket.Accept(c.Writer, c.Request, a.nodes.roomSocketOptions())
	if err != nil {
		return // Accept has answered the request
	}
	ctx, done, ok := a.sockets.open(c.Request.Context())
	if !ok {
		conn.Close(websocket.StatusGoingAway, "the server is shutting down")
		return
	}
	defer done()
	conn.SetReadLimit(maxStageFrame)
	room := c.Param("room")
	log := a.log.With("room", room, "identity", claims.Identity)
	log.Debug("stage socket opened")
	state, sub := a.stage.Subscribe(room)
	defer sub.Close()
	ss := &stageSession{a: a, conn: conn, room: room, claims: claims,
		moderator: grant.Permissions.Has(access.Moderate), replies: make(chan stageReply, socketReplies)}
	reason := ss.run(ctx, state, sub)
	// The request's context is done once the client left: leave with a
	// fresh one so the stage token is revoked all the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), socketWriteTimeout)
	defer cancel()
	if err := a.stage.Leave(ctx, room, claims.Identity); err != nil {
		log.Warn("stage: leaving failed", "err", err)
	}
	log.Debug("stage socket closed", "reason", reason)
}

// stageSession is one stage websocket. run owns it: a reader goroutine
// hands replies to the writer loop, the socket's only writer.
type stageSession struct {
	a         *stageHandlers
	conn      *websocket.Conn
	room      string
	claims    access.Claims
	moderator bool
	replies   chan stageReply
}

func (ss *stageSession) run(ctx context.Context, state rooms.StageState, sub *rooms.StageSubscription) string {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	readDone := make(chan string, 1)
	wg.Go(func() { readDone <- ss.readLoop(ctx) })
	wg.Go(func() { ss.a.gate.keepAlive(ctx, ss.conn, ss.claims, ss.room) })
	code, reason := ss.writeLoop(ctx, state, sub, readDone)
	ss.conn.Close(code, closeReason(reason))
	return reason
}

func (ss *stageSession) writeLoop(ctx context.Context, state rooms.StageState, sub *rooms.StageSubscription, readDone <-chan string) (websocket.StatusCode, string) {
	if !ss.moderator {
		state = ownStage(state, ss.claims.Identity)
	}
	if err := ss.write(ctx, stageWelcome{Type: "stage_welcome", Room: ss.room, Identity: ss.claims.Identity,
		Moderator: ss.moderator, State: state}); err != nil {
		return websocket.StatusInternalError, "write failed"
	}
	for {
		var err error
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				return closeTooSlow, "too_slow: connect again for the current stage"
			}
			if ss.moderator || ev.Identity == ss.claims.Identity {
				err = ss.write(ctx, stageEventFrame{Type: "stage_event", StageEvent: ev})
			}
		case r := <-ss.replies:
			err = ss.write(ctx, r)
		case reason := <-readDone:
			return websocket.StatusNormalClosure, reason
		}
		if err != nil {
			return websocket.StatusInternalError, "write failed"
		}
	}
}

// ownStage keeps what of the stage is identity's.
func ownStage(s rooms.StageState, identity string) rooms.StageState {
	out := rooms.StageState{Hands: []rooms.Hand{}, Invitations: []rooms.Invitation{}, Guests: []rooms.Guest{}}
	for _, h := range s.Hands {
		if h.Identity == identity {
			out.Hands = append(out.Hands, h)
		}
	}
	for _, in := range s.Invitations {
		if in.Identity == identity {
			out.Invitations = append(out.Invitations, in)
		}
	}
	for _, g := range s.Guests {
		if g.Identity == identity {
			out.Guests = append(out.Guests, g)
		}
	}
	return out
}

func (ss *stageSession) write(ctx context.Context, v any) error { return writeFrame(ctx, ss.conn, v) }

// readLoop handles the client's frames until the socket closes and returns why.
func (ss *stageSession) readLoop(ctx context.Context) string {
	for {
		typ, data, err := ss.conn.Read(ctx)
		if err != nil {
			return readEnded(ctx, err)
		}
		var r stageReply
		if f, err := decodeStageFrame(data); typ != websocket.MessageText {
			r = stageErrorReply("", errorf(http.StatusBadRequest, codeInvalidMessage, "frames must be JSON text"))
		} else if err != nil {
			r = stageErrorReply(f.ID, err)
		} else {
			// The token's current grant bounds what the client may do; a
			// revoked token ends the socket.
			perms, end := ss.a.gate.liveGrant(ctx, ss.claims, ss.room)
			if end != "" {
				return end
			}
			r = ss.handle(ctx, f, perms)
		}
		select {
		case ss.replies <- r:
		case <-ctx.Done():
			return "server closing"
		}
	}
}

// handle carries out one frame with the client's current permissions.
func (ss *stageSession) handle(ctx context.Context, f stageFrame, perms access.Permissions) stageReply {
	st, room, me := ss.a.stage, ss.room, ss.claims.Identity
	ok := stageReply{Type: "ok", ID: f.ID}
	var err error
	switch f.Type {
	case stageRaise:
		var h rooms.Hand
		if h, err = st.RaiseHand(room, me, ss.claims.Name); err == nil {
			ok.Hand = &h
		}
	case stageLower:
		err = st.LowerHand(room, me, rooms.EventHandLowered)
	case stageAccept:
		var tok string
		var g rooms.Guest
		if tok, g, err = st.Accept(room, me, ss.claims.Name); err == nil {
			until := g.Since.Add(ss.a.stage.GuestTTL())
			ok.Stage = &stageToken{Token: tok, ExpiresAt: until, Permissions: g.Permissions, Tier: g.Tier, ICEServers: ss.a.cfg.iceServers(me, until)}
			ss.a.log.Info("stage guest joined", "room", room, "identity", me)
		}
	case stageDecline:
		err = st.Decline(room, me, rooms.EventInvitationDeclined)
	case stageLeave:
		err = st.End(ctx, room, me, "the guest left the stage")
	case stageInvite:
		var in rooms.Invitation
		extra := f.Permissions
		if extra == 0 {
			extra = access.List | access.Send | access.Receive
		}
		by := principal{claims: ss.claims, grant: access.Grant{Permissions: perms}}
		if in, err = ss.a.invite(ctx, room, by, f.Identity, extra, f.Tier); err == nil {
			ok.Invitation = &in
		}
	case stageDismiss, stageWithdraw, stageEnd:
		if !perms.Has(access.Moderate) {
			return stageErrorReply(f.ID, errorf(http.StatusForbidden, codePermissionDenied, "%s needs the moderate permission", f.Type))
		}
		switch f.Type {
		case stageDismiss:
			err = st.LowerHand(room, f.Identity, rooms.EventHandDismissed)
		case stageWithdraw:
			err = st.Decline(room, f.Identity, rooms.EventInvitationWithdrawn)
		default:
			err = st.End(ctx, room, f.Identity, "a moderator ended the guest's turn on stage")
		}
	}
	if err != nil {
		return stageErrorReply(f.ID, err)
	}
	return ok
}
