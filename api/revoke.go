package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// codeInvalidBan: a ban's identity or duration is wrong.
const codeInvalidBan = "invalid_ban"

// maxTokenIDLen bounds a token ID in a revocation (minted ones have 24 characters).
const maxTokenIDLen = 128

// revokeToken answers DELETE /api/v1/tokens/{token}: the token with that ID
// (the JWT's jti, token_id in the logs) stops working in every room it names,
// on every protocol (docs/security.md "Revocation").
func (s *memberHandlers) revokeToken(c *gin.Context) {
	id := c.Param("token")
	if id == "" || len(id) > maxTokenIDLen {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidToken, "token: must be a token ID of 1 to %d characters", maxTokenIDLen))
		return
	}
	if strings.Contains(id, "~") {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidToken, "token: %q is not a token ID", id))
		return
	}
	if err := s.rooms.RevokeToken(c.Request.Context(), caller(c).app, id); err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("token revoked", "token_id", id)
	c.Status(http.StatusNoContent)
}

// revokeIdentity answers DELETE /api/v1/rooms/{room}/identities/{identity}/tokens:
// every token of the identity issued until now stops working in the room, and
// its live sessions there end. Tokens minted afterwards work.
func (s *memberHandlers) revokeIdentity(c *gin.Context) {
	roomID, identity := c.Param("room"), c.Param("identity")
	if !identityPattern.MatchString(identity) {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidMember, "identity: must be 1 to 128 letters, digits or . _ @ -"))
		return
	}
	if err := s.rooms.RevokeIdentity(c.Request.Context(), roomID, identity); err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("tokens revoked", "room", roomID, "identity", identity)
	s.live.end(roomID, identity, "tokens revoked")
	c.Status(http.StatusNoContent)
}

// maxBan bounds a ban's duration.
const maxBan = 30 * 24 * time.Hour

// banRequest is the body of PUT /rooms/{room}/bans/{identity}.
type banRequest struct {
	Seconds int64 `json:"seconds"`
}

// banJSON is a ban as the API shows it.
type banJSON struct {
	Identity string    `json:"identity"`
	Until    time.Time `json:"until"`
}

// putBan answers PUT /api/v1/rooms/{room}/bans/{identity}: no token of the
// identity works in the room until the ban ends, and its live sessions there
// end now.
func (s *memberHandlers) putBan(c *gin.Context) {
	var req banRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	roomID, identity := c.Param("room"), c.Param("identity")
	if !identityPattern.MatchString(identity) {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidBan, "identity: must be 1 to 128 letters, digits or . _ @ -"))
		return
	}
	if max := int64(maxBan / time.Second); req.Seconds < 1 || req.Seconds > max {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidBan, "seconds: must be 1 to %d", max))
		return
	}
	until := time.Now().Add(time.Duration(req.Seconds) * time.Second).UTC().Truncate(time.Millisecond)
	if err := s.rooms.Ban(c.Request.Context(), roomID, identity, until); err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("identity banned", "room", roomID, "identity", identity, "until", until)
	s.live.end(roomID, identity, "banned")
	c.JSON(http.StatusOK, banJSON{Identity: identity, Until: until})
}

// deleteBan answers DELETE /api/v1/rooms/{room}/bans/{identity}: the ban ends.
func (s *memberHandlers) deleteBan(c *gin.Context) {
	roomID, identity := c.Param("room"), c.Param("identity")
	if !identityPattern.MatchString(identity) {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidBan, "identity: must be 1 to 128 letters, digits or . _ @ -"))
		return
	}
	if err := s.rooms.Ban(c.Request.Context(), roomID, identity, time.Time{}); err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("ban lifted", "room", roomID, "identity", identity)
	c.Status(http.StatusNoContent)
}
