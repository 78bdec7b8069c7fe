package api

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
	"lectern/storage"
)

// deviceCookie names the browser a PIN join came from (access.Issuer.Device).
// Only the join routes read it: its path is /api/v1/rooms.
const deviceCookie = "lectern_device"

// deviceCookieAge is how long a browser keeps its device ID after its last
// PIN join: longer than the longest ban and chat mute (30 days).
const deviceCookieAge = 180 * 24 * time.Hour

// guestIdentity returns the identity a PIN join with perms from this browser
// gets in room: the one its device cookie leads to, so that a ban or a chat mute of
// the guest it was holds again (docs/security.md "Device cookie"); a browser
// without a valid cookie gets a new device and its cookie. A banned identity
// is refused with rooms.ErrBanned (403 banned).
func (s *tokenHandlers) guestIdentity(c *gin.Context, room string, perms access.Permissions) (string, error) {
	var value, device string
	if v, err := c.Cookie(deviceCookie); err == nil {
		if d, ok := s.issuer.Device(v); ok {
			value, device = v, d
		}
	}
	if device == "" {
		raw := make([]byte, 16)
		rand.Read(raw) // never fails (crypto/rand)
		value = s.issuer.DeviceCookie(raw)
		device, _ = s.issuer.Device(value)
	}
	// Set again on every join, so the age runs from the last one. Lax: the
	// join is a same-site fetch; HttpOnly: pages never need it.
	http.SetCookie(c.Writer, &http.Cookie{Name: deviceCookie, Value: value, Path: "/api/v1/rooms",
		MaxAge: int(deviceCookieAge / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: c.Request.TLS != nil || strings.HasPrefix(s.cfg.PublicURL, "https://")})
	identity := s.issuer.DeviceIdentity(device, room, perms)
	if err := s.checkNotBanned(c.Request.Context(), identity, room); err != nil {
		return "", err
	}
	return identity, nil
}

// checkNotBanned asks the room's rules about a token identity would get now:
// only a ban refuses it (a revocation covers tokens issued before it).
func (s *tokenHandlers) checkNotBanned(ctx context.Context, identity, room string) error {
	probe := access.Claims{ID: "join", App: storage.KeyApp(room), Identity: identity, Rooms: map[string]access.Grant{room: {}}, IssuedAt: time.Now().Add(time.Second)}
	_, err := s.rooms.Grant(ctx, probe, room)
	if err == nil || errors.Is(err, rooms.ErrTokenRevoked) {
		return nil
	}
	return err
}
