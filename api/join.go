package api

import (
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
	"lectern/storage"
)

// maxPINLen bounds what is compared; real PINs are 8 and 10 digits.
const maxPINLen = 64

type joinRequest struct {
	PIN  string `json:"pin"`
	Name string `json:"name"`
}

// joinResponse is what a guest gets for a right PIN.
type joinResponse struct {
	Token       string             `json:"token"`
	ExpiresAt   time.Time          `json:"expires_at"`
	Identity    string             `json:"identity"`
	Name        string             `json:"name"`
	Permissions access.Permissions `json:"permissions"`
	Tier        access.Tier        `json:"tier"`
	Room        roomJSON           `json:"room"`
	// ICEServers are the STUN/TURN servers for this identity, valid as long as the token.
	ICEServers []ICEServer `json:"ice_servers"`
}

// join exchanges a room PIN and a display name for an access token. Wrong PINs
// are throttled per client address and per room.
func (s *Server) join(c *gin.Context) {
	var req joinRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	name, err := displayName("name", req.Name, 64, codeInvalidJoin)
	if err != nil {
		s.abort(c, err)
		return
	}
	if req.PIN == "" || len(req.PIN) > maxPINLen {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidJoin, "pin: is required"))
		return
	}
	addr, roomID := c.ClientIP(), c.Param("room")
	if wait := s.throttle.retryAfter(addr, roomID); wait > 0 {
		e := errorf(http.StatusTooManyRequests, codeTooManyAttempts, "too many wrong PINs; try again in %d seconds", seconds(wait))
		e.RetryAfter = seconds(wait)
		s.abort(c, e)
		return
	}
	ctx := c.Request.Context()
	r, err := s.rooms.Room(ctx, roomID)
	if err != nil {
		// An unknown room counts as a failure, so room names cannot be probed freely.
		s.throttle.fail(addr, roomID)
		s.abort(c, err)
		return
	}
	grant, ok := rooms.PINGrant(r, req.PIN)
	if !ok {
		s.throttle.fail(addr, roomID)
		s.log.Info("join refused: wrong PIN", "room", roomID, "client", addr)
		s.abort(c, errorf(http.StatusForbidden, codeWrongPIN, "the PIN is not right for this room"))
		return
	}
	resp, err := s.joinToken(r, name, grant)
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("joined by PIN", "room", r.ID, "identity", resp.Identity, "permissions", grant.Permissions.String())
	c.JSON(http.StatusOK, resp)
}

func (s *Server) joinToken(r storage.Room, name string, grant access.Grant) (joinResponse, error) {
	now := time.Now()
	perms := grant.Permissions
	claims := access.Claims{
		ID:        randomHex(12),
		Identity:  "guest-" + randomHex(6),
		Name:      name,
		Rooms:     map[string]access.Grant{r.ID: grant},
		IssuedAt:  now,
		ExpiresAt: now.Add(s.cfg.TokenTTL),
	}
	tok, err := s.issuer.Sign(claims)
	if err != nil {
		return joinResponse{}, err
	}
	return joinResponse{
		Token: tok, ExpiresAt: claims.ExpiresAt.UTC().Truncate(time.Second), Identity: claims.Identity, Name: name,
		Permissions: perms, Tier: grant.Tier, Room: roomView(r, perms.Has(access.Moderate)),
		ICEServers: s.iceServers(claims.Identity, claims.ExpiresAt),
	}, nil
}

// seconds rounds d up to whole seconds, at least 1.
func seconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
