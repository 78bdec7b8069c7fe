package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// revocationRoutes registers the admin's revocations (docs/api.md "Revoking tokens").
func (s *Server) revocationRoutes(v1 *gin.RouterGroup) {
	v1.DELETE("/tokens/:token", s.admin, s.revokeToken)
	v1.DELETE("/rooms/:room/identities/:identity/tokens", s.admin, s.onRoomNode, s.revokeIdentity)
}

// maxTokenIDLen bounds a token ID in a revocation (minted ones have 24 characters).
const maxTokenIDLen = 128

// revokeToken answers DELETE /api/v1/tokens/{token}: the token with that ID
// (the JWT's jti, token_id in the logs) stops working in every room it names,
// on every protocol (docs/security.md "Revocation").
func (s *Server) revokeToken(c *gin.Context) {
	id := c.Param("token")
	if id == "" || len(id) > maxTokenIDLen {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidToken, "token: must be a token ID of 1 to %d characters", maxTokenIDLen))
		return
	}
	if err := s.rooms.RevokeToken(c.Request.Context(), id); err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("token revoked", "token_id", id)
	c.Status(http.StatusNoContent)
}

// revokeIdentity answers DELETE /api/v1/rooms/{room}/identities/{identity}/tokens:
// every token of the identity issued until now stops working in the room, and
// its live sessions there end. Tokens minted afterwards work.
func (s *Server) revokeIdentity(c *gin.Context) {
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
	s.endLive(roomID, identity, "tokens revoked")
	c.Status(http.StatusNoContent)
}
