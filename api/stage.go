package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
	"lectern/sfu"
)

// stageHandlers serve the webinar stage (docs/api.md "The stage",
// docs/protocol.md "The stage"): moderators' REST routes and everyone's stage
// websocket. The rules are package rooms' (rooms.Stage); the stage of a room
// lives on the node that holds the room, so the routes run there (onRoomNode,
// and the websocket is placed like the room websocket).
type stageHandlers struct {
	cfg   Config // body size, ICE servers
	stage *rooms.Stage
	// caps counts the stage websocket among its address's sockets.
	caps *sessionCaps
	// sockets are the open websockets, which Server.Close ends.
	sockets *openSockets
	nodes   *roomNodes
	gate    *gate
	reporter
}

// newStage builds the stage over svc: a guest's end closes the sessions it
// opened with its stage token, and every change goes to d.OnStageEvent.
func newStage(cfg rooms.StageConfig, svc *rooms.Service, d Deps) (*rooms.Stage, error) {
	st, err := rooms.NewStage(cfg, svc)
	if err != nil {
		return nil, err
	}
	st.OnEvent = d.OnStageEvent
	st.OnEnd = func(room, identity, reason string) { closeParticipants(d.SFU.LiveRoom, room, identity, reason) }
	return st, nil
}

// routes registers the stage's routes: a moderator's (or an API key
// holder's) on the room's node, and the websocket.
func (a *stageHandlers) routes(r router) {
	moderate, onRoomNode := r.gate.adminOr(access.Moderate), r.nodes.onRoomNode
	r.v1.GET("/rooms/:room/stage", moderate, onRoomNode, a.getStage)
	r.v1.POST("/rooms/:room/stage/invitations", moderate, onRoomNode, a.postInvitation)
	r.v1.DELETE("/rooms/:room/stage/invitations/:identity", moderate, onRoomNode, a.deleteInvitation)
	r.v1.DELETE("/rooms/:room/stage/hands/:identity", moderate, onRoomNode, a.deleteHand)
	r.v1.DELETE("/rooms/:room/stage/guests/:identity", moderate, onRoomNode, a.deleteGuest)
	r.v1.GET("/rooms/:room/stage/ws", a.socket)
}

// getStage answers GET /api/v1/rooms/{room}/stage: the queue of raised
// hands in order, the open invitations and the guests on stage.
func (a *stageHandlers) getStage(c *gin.Context) {
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
func (a *stageHandlers) postInvitation(c *gin.Context) {
	var req invitationRequest
	if err := decodeJSON(c, a.cfg.MaxBodyBytes, &req); err != nil {
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

func (a *stageHandlers) invite(ctx context.Context, room string, by principal, identity string, extra access.Permissions, tier string) (rooms.Invitation, error) {
	if !identityPattern.MatchString(identity) {
		return rooms.Invitation{}, errorf(http.StatusBadRequest, codeInvalidMember, "identity: must be 1 to 128 letters, digits or . _ @ -")
	}
	in, err := a.stage.Invite(ctx, room, rooms.Inviter{Identity: by.claims.Identity, Permissions: by.grant.Permissions, Admin: by.admin}, identity, extra, tier)
	if err == nil {
		a.log.Info("stage invitation", "room", room, "identity", identity, "by", by.claims.Identity, "permissions", in.Permissions.String(), "tier", in.Tier)
	}
	return in, err
}

// deleteInvitation answers DELETE .../stage/invitations/{identity}: the
// invitation is withdrawn.
func (a *stageHandlers) deleteInvitation(c *gin.Context) {
	a.noContent(c, a.stage.Decline(c.Param("room"), c.Param("identity"), rooms.EventInvitationWithdrawn))
}

// deleteHand answers DELETE .../stage/hands/{identity}: the hand is dismissed.
func (a *stageHandlers) deleteHand(c *gin.Context) {
	a.noContent(c, a.stage.LowerHand(c.Param("room"), c.Param("identity"), rooms.EventHandDismissed))
}

// deleteGuest answers DELETE .../stage/guests/{identity}: the guest goes
// back to the audience; its stage token is revoked on every protocol and its
// sessions with it end.
func (a *stageHandlers) deleteGuest(c *gin.Context) {
	room, identity := c.Param("room"), c.Param("identity")
	err := a.stage.End(c.Request.Context(), room, identity, "a moderator ended the guest's turn on stage")
	if err == nil {
		a.log.Info("stage guest ended", "room", room, "identity", identity, "by", caller(c).claims.Identity)
	}
	a.noContent(c, err)
}

func (a *stageHandlers) noContent(c *gin.Context, err error) {
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
