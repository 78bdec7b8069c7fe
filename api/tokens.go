package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
	"lectern/storage"
)

// tokenHandlers mint access tokens: for an API key holder (/tokens) and for
// a browser that joins with a PIN, whose guesses the PIN guard meters.
type tokenHandlers struct {
	cfg    Config
	issuer *access.Issuer
	rooms  *rooms.Service
	pins   *rooms.PINGuard
	reporter
}

func (s *tokenHandlers) routes(r router) {
	r.v1.POST("/tokens", r.gate.admin, s.createToken)
	r.v1.POST("/rooms/:room/join", s.join)
}

// maxTokenRooms bounds the rooms one token may name.
const maxTokenRooms = 50

// tokenRequest asks for a token for any identity in any rooms (API key only).
type tokenRequest struct {
	Identity   string                      `json:"identity"`
	Name       string                      `json:"name"`
	TTLSeconds int64                       `json:"ttl_seconds"`
	Rooms      map[string]tokenRoomRequest `json:"rooms"`
}

// tokenRoomRequest sets the grant in one room. Without permissions or preset the
// member's stored permissions apply, or the room's default.
type tokenRoomRequest struct {
	Tier string `json:"tier"`
	// MediaSources are the extra sources of the grant (the member's when
	// left out).
	MediaSources *[]string `json:"media_sources"`
	permissionChoice
}

type grantJSON struct {
	Permissions access.Permissions `json:"permissions"`
	Tier        access.Tier        `json:"tier"`
	// MediaSources are sources the holder may send although the room's
	// media policy refuses them.
	MediaSources access.Sources `json:"media_sources,omitempty"`
}

type tokenResponse struct {
	Token string `json:"token"`
	// TokenID is the token's ID (its jti), for DELETE /api/v1/tokens/{token}.
	TokenID   string               `json:"token_id"`
	ExpiresAt time.Time            `json:"expires_at"`
	Identity  string               `json:"identity"`
	Name      string               `json:"name"`
	Rooms     map[string]grantJSON `json:"rooms"`
	// ICEServers are the STUN/TURN servers for this identity, valid as long as the token.
	ICEServers []ICEServer `json:"ice_servers"`
}

func (s *tokenHandlers) createToken(c *gin.Context) {
	var req tokenRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	if !identityPattern.MatchString(req.Identity) {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidToken, "identity: must be 1 to 128 letters, digits or . _ @ -"))
		return
	}
	name := req.Identity
	if req.Name != "" {
		var err error
		if name, err = displayName("name", req.Name, 64, codeInvalidToken); err != nil {
			s.abort(c, err)
			return
		}
	}
	ttl := s.cfg.TokenTTL
	if req.TTLSeconds != 0 {
		ttl = time.Duration(req.TTLSeconds) * time.Second
		if req.TTLSeconds < 60 || ttl > s.cfg.MaxTokenTTL {
			s.abort(c, errorf(http.StatusBadRequest, codeInvalidToken, "ttl_seconds: must be 60 to %d", int64(s.cfg.MaxTokenTTL.Seconds())))
			return
		}
	}
	if len(req.Rooms) == 0 || len(req.Rooms) > maxTokenRooms {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidToken, "rooms: must name 1 to %d rooms", maxTokenRooms))
		return
	}
	resp := tokenResponse{Identity: req.Identity, Name: name, Rooms: make(map[string]grantJSON, len(req.Rooms))}
	grants := make(map[string]access.Grant, len(req.Rooms))
	app := caller(c).app
	for roomID, rr := range req.Rooms {
		// The key's app is the calling key's: a name of another app's room
		// is not found (docs/security.md "Apps").
		key, ok := storage.ScopedKey(app, roomID)
		if !ok {
			s.abort(c, errorf(http.StatusNotFound, codeRoomNotFound, "rooms: room %q not found", roomID))
			return
		}
		g, err := s.grant(c.Request.Context(), key, req.Identity, rr)
		if err != nil {
			s.abort(c, err)
			return
		}
		grants[key] = g
		resp.Rooms[roomID] = grantJSON{Permissions: g.Permissions, Tier: g.Tier, MediaSources: g.Sources}
	}
	now := time.Now()
	claims := access.Claims{ID: randomHex(12), App: app, Identity: req.Identity, Name: name, Rooms: grants,
		IssuedAt: now, ExpiresAt: now.Add(ttl)}
	tok, err := s.issuer.Sign(claims)
	if err != nil {
		s.abort(c, err)
		return
	}
	resp.Token, resp.TokenID, resp.ExpiresAt = tok, claims.ID, claims.ExpiresAt.UTC().Truncate(time.Second)
	resp.ICEServers = s.cfg.iceServers(claims.Identity, claims.ExpiresAt)
	s.log.Info("token minted", "identity", req.Identity, "rooms", len(grants), "token_id", claims.ID)
	c.JSON(http.StatusCreated, resp)
}

// grant works out what identity may do in roomID (rooms.Service.MintGrant):
// the request's choice, else the stored member's, else the room's default;
// the tier likewise, capped by the room.
func (s *tokenHandlers) grant(ctx context.Context, roomID, identity string, rr tokenRoomRequest) (access.Grant, error) {
	chosen, err := rr.chosen(codeInvalidToken)
	if err != nil {
		return access.Grant{}, err
	}
	var extra *access.Sources
	if rr.MediaSources != nil {
		s, err := sourceList("media_sources", *rr.MediaSources, codeInvalidToken)
		if err != nil {
			return access.Grant{}, err
		}
		extra = &s
	}
	g, err := s.rooms.MintGrant(ctx, roomID, identity, chosen, rr.Tier)
	if extra != nil {
		g.Sources = *extra
	}
	switch {
	case errors.Is(err, rooms.ErrRoomNotFound):
		return access.Grant{}, errorf(http.StatusNotFound, codeRoomNotFound, "rooms: room %q not found", storage.RoomName(roomID))
	case errors.Is(err, rooms.ErrInvalidTier):
		return access.Grant{}, errorf(http.StatusBadRequest, codeInvalidToken, "tier: %q is not sd, hd, fhd or 4k", rr.Tier)
	case errors.Is(err, rooms.ErrTierAboveRoom):
		return access.Grant{}, errorf(http.StatusBadRequest, codeInvalidToken, "tier: %s is above the room's tier", rr.Tier)
	}
	return g, err
}
