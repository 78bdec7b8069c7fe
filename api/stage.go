package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
	"lectern/sfu"
)

// stageAPI serves the webinar stage (docs/api.md "The stage", docs/protocol.md
// "The stage"): moderators' REST routes and everyone's stage websocket. The
// rules are package rooms' (rooms.Stage); the stage of a room lives on the
// node that holds the room, so the routes run there (onRoomNode, and the
// websocket is placed like the room websocket).
type stageAPI struct {
	stage *rooms.Stage
	log   *slog.Logger
	// participant verifies the request's token in its room.
	participant func(*gin.Context) (access.Claims, access.Grant, error)
	// liveGrant re-checks an open socket's token (Server.liveGrant).
	liveGrant func(context.Context, access.Claims, string) (access.Permissions, string)
	// keepAlive pings a socket and ends it when its token stops working.
	keepAlive func(context.Context, *websocket.Conn, access.Claims, string)
	abort     func(*gin.Context, error)
	// caps counts the stage websocket among its address's sockets.
	caps    *sessionCaps
	ice     func(identity string, until time.Time) []ICEServer
	accept  *websocket.AcceptOptions
	maxBody int64
}

// newStageAPI builds the stage's handlers on the server's parts; a guest's
// end closes the sessions it opened with its stage token, and every change
// goes to onEvent (nil: nowhere).
func newStageAPI(s *Server, cfg rooms.StageConfig, onEvent func(rooms.StageEvent)) (*stageAPI, error) {
	st, err := rooms.NewStage(cfg, s.rooms)
	if err != nil {
		return nil, err
	}
	st.OnEvent = onEvent
	st.OnEnd = func(room, identity, reason string) { closeParticipants(s.media.LiveRoom, room, identity, reason) }
	return &stageAPI{stage: st, log: s.log, participant: s.participant, liveGrant: s.liveGrant,
		keepAlive: s.keepAlive, abort: s.abort, caps: s.caps, ice: s.iceServers, accept: s.roomSocketOptions(),
		maxBody: s.cfg.MaxBodyBytes}, nil
}

// routes registers the stage's routes; moderate authenticates a moderator
// (or an API key holder), onRoomNode sends the request to the room's node.
func (a *stageAPI) routes(v1 *gin.RouterGroup, moderate, onRoomNode gin.HandlerFunc) {
	v1.GET("/rooms/:room/stage", moderate, onRoomNode, a.getStage)
	v1.POST("/rooms/:room/stage/invitations", moderate, onRoomNode, a.postInvitation)
	v1.DELETE("/rooms/:room/stage/invitations/:identity", moderate, onRoomNode, a.deleteInvitation)
	v1.DELETE("/rooms/:room/stage/hands/:identity", moderate, onRoomNode, a.deleteHand)
	v1.DELETE("/rooms/:room/stage/guests/:identity", moderate, onRoomNode, a.deleteGuest)
	v1.GET("/rooms/:room/stage/ws", a.socket)
}

// getStage answers GET /api/v1/rooms/{room}/stage: the queue of raised
// hands in order, the open invitations and the guests on stage.
func (a *stageAPI) getStage(c *gin.Context) {
	c.JSON(http.StatusOK, a.stage.State(c.Param("room")))
}

// invitationRequest is the body of POST .../stage/invitations.
type invitationRequest struct {
	Identity string `json:"identity"`
	// Permissions are what the guest gets beside publish and subscribe (of
	// list, send and receive); absent: all three.
	Permissions *access.Permissions `json:"permissions"`
	Tier        string              `json:"tier"`
}

// postInvitation answers POST /api/v1/rooms/{room}/stage/invitations.
func (a *stageAPI) postInvitation(c *gin.Context) {
	var req invitationRequest
	if err := decodeJSON(c, a.maxBody, &req); err != nil {
		a.abort(c, err)
		return
	}
	extra := access.List | access.Send | access.Receive
	if req.Permissions != nil {
		extra = *req.Permissions
	}
	in, err := a.invite(c.Request.Context(), c.Param("room"), caller(c), req.Identity, extra, req.Tier)
	if err != nil {
		a.abort(c, stageError(err))
		return
	}
	c.JSON(http.StatusCreated, in)
}

func (a *stageAPI) invite(ctx context.Context, room string, by principal, identity string, extra access.Permissions, tier string) (rooms.Invitation, error) {
	if !identityPattern.MatchString(identity) {
		return rooms.Invitation{}, errorf(http.StatusBadRequest, codeInvalidMember, "identity: must be 1 to 128 letters, digits or . _ @ -")
	}
	in, err := a.stage.Invite(ctx, room, by.grant, by.claims.Identity, by.admin, identity, extra, tier)
	if err == nil {
		a.log.Info("stage invitation", "room", room, "identity", identity, "by", by.claims.Identity, "permissions", in.Permissions.String(), "tier", in.Tier)
	}
	return in, err
}

// deleteInvitation answers DELETE .../stage/invitations/{identity}: the
// invitation is withdrawn.
func (a *stageAPI) deleteInvitation(c *gin.Context) {
	a.noContent(c, a.stage.Decline(c.Param("room"), c.Param("identity"), rooms.EventInvitationWithdrawn))
}

// deleteHand answers DELETE .../stage/hands/{identity}: the hand is dismissed.
func (a *stageAPI) deleteHand(c *gin.Context) {
	a.noContent(c, a.stage.LowerHand(c.Param("room"), c.Param("identity"), rooms.EventHandDismissed))
}

// deleteGuest answers DELETE .../stage/guests/{identity}: the guest goes
// back to the audience; its stage token is revoked on every protocol and its
// sessions with it end.
func (a *stageAPI) deleteGuest(c *gin.Context) {
	room, identity := c.Param("room"), c.Param("identity")
	err := a.stage.End(c.Request.Context(), room, identity, "a moderator ended the guest's turn on stage")
	if err == nil {
		a.log.Info("stage guest ended", "room", room, "identity", identity, "by", caller(c).claims.Identity)
	}
	a.noContent(c, err)
}

func (a *stageAPI) noContent(c *gin.Context, err error) {
	if err != nil {
		a.abort(c, stageError(err))
		return
	}
	c.Status(http.StatusNoContent)
}

// liveRooms finds a room's live media here (sfu.SFU.LiveRoom).
type liveRooms func(room string) (*sfu.Room, bool)

// closeParticipants closes the live participants of room who joined as identity.
func closeParticipants(live liveRooms, room, identity, reason string) {
	r, ok := live(room)
	if !ok {
		return
	}
	for _, p := range r.Participants() {
		if p.Identity() == identity {
			p.Close(reason)
		}
	}
}
