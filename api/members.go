package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
	"lectern/storage"
)

// memberHandlers serve a room's members, and the revocations and bans that
// end an identity's tokens (docs/api.md "Members", "Revoking tokens"); a
// change reaches the identity's open sessions at once.
type memberHandlers struct {
	cfg   Config
	db    *storage.DB
	rooms *rooms.Service
	live  liveSessions
	gate  *gate
	reporter
}

func (s *memberHandlers) routes(r router) {
	r.v1.GET("/rooms/:room/members", r.gate.adminOr(access.Moderate), s.listMembers)
	r.v1.POST("/rooms/:room/members", r.gate.adminOr(access.Moderate), s.createMember)
	r.v1.GET("/rooms/:room/members/:identity", r.gate.adminOr(access.Moderate), s.getMember)
	r.v1.PATCH("/rooms/:room/members/:identity", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.updateMember)
	r.v1.DELETE("/rooms/:room/members/:identity", r.gate.adminOr(access.Moderate), s.deleteMember)

	// The admin's revocations and the moderators' bans.
	r.v1.DELETE("/tokens/:token", r.gate.admin, s.revokeToken)
	r.v1.DELETE("/rooms/:room/identities/:identity/tokens", r.gate.admin, r.nodes.onRoomNode, s.revokeIdentity)
	r.v1.PUT("/rooms/:room/bans/:identity", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.putBan)
	r.v1.DELETE("/rooms/:room/bans/:identity", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.deleteBan)
}

// memberJSON is a member as the API shows it.
type memberJSON struct {
	Identity    string             `json:"identity"`
	Name        string             `json:"name"`
	Permissions access.Permissions `json:"permissions"`
	// Tier is the member's override; empty means the room's tier.
	Tier      string    `json:"tier,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func memberView(m storage.Member) (memberJSON, error) {
	p, err := access.ParsePermissions(m.Permissions)
	if err != nil {
		return memberJSON{}, err
	}
	return memberJSON{Identity: m.Identity, Name: m.Name, Permissions: p, Tier: m.Tier,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}, nil
}

// memberRequest is the body of POST (identity required) and PATCH on members.
type memberRequest struct {
	Identity *string `json:"identity"`
	Name     *string `json:"name"`
	Tier     *string `json:"tier"`
	permissionChoice
}

// apply validates req against room r and writes it into m.
func (req memberRequest) apply(r storage.Room, m *storage.Member) error {
	if req.Name != nil {
		name, err := displayName("name", *req.Name, 64, codeInvalidMember)
		if err != nil {
			return err
		}
		m.Name = name
	}
	if req.Tier != nil {
		t, err := memberTier(r, *req.Tier, codeInvalidMember)
		if err != nil {
			return err
		}
		m.Tier = t
	}
	current, err := access.ParsePermissions(m.Permissions)
	if err != nil {
		return err
	}
	p, err := req.resolve(current, codeInvalidMember)
	if err != nil {
		return err
	}
	m.Permissions = p.String()
	return nil
}

// respondMember writes m with status.
func (s *memberHandlers) respondMember(c *gin.Context, status int, m storage.Member) {
	v, err := memberView(m)
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(status, v)
}

func (s *memberHandlers) listMembers(c *gin.Context) {
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	members, err := s.db.Members(c.Request.Context(), r.ID)
	if err != nil {
		s.abort(c, notFound(err, codeRoomNotFound, "room"))
		return
	}
	out := make([]memberJSON, len(members))
	for i, m := range members {
		if out[i], err = memberView(m); err != nil {
			s.abort(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"members": out})
}

func (s *memberHandlers) createMember(c *gin.Context) {
	var req memberRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	if req.Identity == nil || !identityPattern.MatchString(*req.Identity) {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidMember,
			"identity: must be 1 to 128 letters, digits or . _ @ -"))
		return
	}
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	m := storage.Member{RoomID: r.ID, Identity: *req.Identity, Name: *req.Identity,
		Permissions: rooms.DefaultPermissions(r.Mode).String()}
	if err := req.apply(r, &m); err != nil {
		s.abort(c, err)
		return
	}
	created, err := s.rooms.CreateMember(c.Request.Context(), m)
	switch {
	case errors.Is(err, storage.ErrConflict):
		err = errorf(http.StatusConflict, codeMemberExists, "member %q already exists in this room", m.Identity)
	case errors.Is(err, storage.ErrNotFound):
		err = errorf(http.StatusNotFound, codeRoomNotFound, "room not found")
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("member created", "room", r.ID, "identity", m.Identity, "permissions", m.Permissions)
	c.Header("Location", "/api/v1/rooms/"+r.ID+"/members/"+m.Identity)
	s.respondMember(c, http.StatusCreated, created)
}

func (s *memberHandlers) getMember(c *gin.Context) {
	m, err := s.db.Member(c.Request.Context(), c.Param("room"), c.Param("identity"))
	if err != nil {
		s.abort(c, notFound(err, codeMemberNotFound, "member"))
		return
	}
	s.respondMember(c, http.StatusOK, m)
}

func (s *memberHandlers) updateMember(c *gin.Context) {
	var req memberRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	if req.Identity != nil {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidMember, "identity: cannot be changed"))
		return
	}
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	m, err := s.db.Member(ctx, r.ID, c.Param("identity"))
	if err != nil {
		s.abort(c, notFound(err, codeMemberNotFound, "member"))
		return
	}
	if err := req.apply(r, &m); err != nil {
		s.abort(c, err)
		return
	}
	updated, err := s.rooms.UpdateMember(ctx, m)
	if err != nil {
		s.abort(c, notFound(err, codeMemberNotFound, "member"))
		return
	}
	s.log.Info("member updated", "room", r.ID, "identity", m.Identity, "permissions", m.Permissions)
	if p, err := access.ParsePermissions(updated.Permissions); err == nil {
		s.live.setPermissions(r.ID, updated.Identity, p)
	}
	s.respondMember(c, http.StatusOK, updated)
}

func (s *memberHandlers) deleteMember(c *gin.Context) {
	roomID, identity := c.Param("room"), c.Param("identity")
	if err := s.rooms.DeleteMember(c.Request.Context(), roomID, identity); err != nil {
		s.abort(c, notFound(err, codeMemberNotFound, "member"))
		return
	}
	s.log.Info("member deleted", "room", roomID, "identity", identity)
	s.live.end(roomID, identity, "member deleted")
	c.Status(http.StatusNoContent)
}
