package api

import (
	"errors"
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

// join exchanges a room PIN and a display name for an access token. The PIN
// guard (rooms.PINGuard) admits the try first: wrong PINs per address and
// room, joins per address, and a flooded room's metered checks.
func (s *tokenHandlers) join(c *gin.Context) {
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
	if wait, err := s.pins.Admit(addr, roomID); err != nil {
		s.abort(c, joinRefusal(err, wait))
		return
	}
	r, err := s.rooms.Room(c.Request.Context(), roomID)
	if err != nil {
		if errors.Is(err, rooms.ErrRoomNotFound) {
			// An unknown room counts as a failure, so room names cannot be probed freely.
			s.pins.Fail(addr, roomID)
		}
		s.abort(c, err)
		return
	}
	grant, err := rooms.JoinByPIN(r, req.PIN)
	if errors.Is(err, rooms.ErrWrongPIN) {
		s.pins.Fail(addr, roomID)
		s.log.Info("join refused: wrong PIN", "room", roomID, "client", addr)
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	identity, err := s.guestIdentity(c, r.ID, grant.Permissions) // api/device.go
	if err != nil {
		s.abort(c, err)
		return
	}
	resp, err := s.joinToken(r, identity, name, grant)
	if err != nil {
		s.abort(c, err)
		return
	}
	s.pins.Joined(addr)
	s.log.Info("joined by PIN", "room", r.ID, "identity", resp.Identity, "permissions", grant.Permissions.String())
	c.JSON(http.StatusOK, resp)
}

func (s *tokenHandlers) joinToken(r storage.Room, identity, name string, grant access.Grant) (joinResponse, error) {
	now := time.Now()
	perms := grant.Permissions
	claims := access.Claims{
		ID:        randomHex(12),
		App:       r.App,
		Identity:  identity,
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
		ICEServers: s.cfg.iceServers(claims.Identity, claims.ExpiresAt),
	}, nil
}

// seconds rounds d up to whole seconds, at least 1.
func seconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
