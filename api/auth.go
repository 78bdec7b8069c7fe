package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
	"lectern/storage"
)

// principalKey is the gin context key of the authenticated caller.
const principalKey = "lectern.principal"

// gate answers who is calling and which room they address: it checks API
// keys and access tokens (and, on an open socket, keeps checking them) and
// loads the path's room. The route groups share one.
type gate struct {
	issuer *access.Issuer
	rooms  *rooms.Service
	// ping is how often keepAlive pings a socket and checks its token.
	ping time.Duration
	reporter
}

// principal is who is calling: an admin (API key) or the holder of an access
// token, with the token's current grant in the path's room (adminOr).
type principal struct {
	admin bool
	// app is the app an API key administers (the default app for an
	// operator key); operator says the key is an operator key.
	app      string
	operator bool
	claims   access.Claims
	grant    access.Grant
}

// bearerToken returns the credential of "Authorization: Bearer <credential>".
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// participant verifies the access token of a request for the path's room and
// returns its claims and its current grant in that room (rooms.Service.Grant). The token comes from the
// Authorization header or, for clients that cannot set headers (browser
// websockets, media players), from the "token" query parameter.
func (g *gate) participant(c *gin.Context) (access.Claims, access.Grant, error) {
	tok, ok := bearerToken(c.Request)
	if !ok {
		tok = c.Query("token")
	}
	if tok == "" {
		return access.Claims{}, access.Grant{}, errorf(http.StatusUnauthorized, codeUnauthorized,
			"send an access token as Authorization: Bearer <token> or ?token=<token>")
	}
	return g.rooms.Verify(c.Request.Context(), tok, c.Param("room"))
}

// authenticate identifies the caller from the Authorization header. A credential
// with the shape of a JWT is verified as an access token; anything else is looked
// up as an API key.
func (g *gate) authenticate(c *gin.Context) (principal, error) {
	cred, ok := bearerToken(c.Request)
	if !ok {
		return principal{}, errorf(http.StatusUnauthorized, codeUnauthorized,
			"send Authorization: Bearer <API key or access token>")
	}
	if strings.Count(cred, ".") == 2 {
		claims, err := g.issuer.Verify(cred)
		if err != nil {
			return principal{}, err
		}
		return principal{claims: claims}, nil
	}
	k, err := g.rooms.APIKey(c.Request.Context(), cred)
	if err != nil {
		if errors.Is(err, rooms.ErrInvalidAPIKey) {
			return principal{}, errorf(http.StatusUnauthorized, codeInvalidAPIKey, "the API key is not valid")
		}
		return principal{}, err
	}
	return principal{admin: true, app: k.App, operator: k.Operator}, nil
}

// operator lets only operator keys through (docs/api.md "Apps").
func (g *gate) operator(c *gin.Context) {
	p, err := g.authenticate(c)
	if err != nil {
		g.abort(c, err)
		return
	}
	if !p.operator {
		g.abort(c, errorf(http.StatusForbidden, codeOperatorRequired, "this endpoint needs the server operator's API key"))
		return
	}
	c.Set(principalKey, p)
}

// admin lets only API key holders through.
func (g *gate) admin(c *gin.Context) {
	p, err := g.authenticate(c)
	if err != nil {
		g.abort(c, err)
		return
	}
	if !p.admin {
		g.abort(c, errorf(http.StatusForbidden, codeAdminRequired, "this endpoint needs an API key, not an access token"))
		return
	}
	// A room's path: the room must be one of the key's app (adminOr).
	if room := c.Param("room"); room != "" {
		if _, err := g.rooms.Room(c.Request.Context(), room); err != nil {
			g.abort(c, err)
			return
		}
	}
	c.Set(principalKey, p)
}

// adminOr lets through API key holders and holders of a token for the path's room
// that has every permission in need.
func (g *gate) adminOr(need access.Permissions) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := g.authenticate(c)
		if err != nil {
			g.abort(c, err)
			return
		}
		// An API key reaches the rooms of its app that exist: any other
		// room, another app's included, is not found. Recordings outlive
		// their room: their routes look for the recording under the path's
		// key (of the key's app) instead.
		if p.admin && !strings.HasPrefix(c.FullPath(), "/api/v1/rooms/:room/recordings") {
			if _, err := g.rooms.Room(c.Request.Context(), c.Param("room")); err != nil {
				g.abort(c, err)
				return
			}
		}
		if !p.admin {
			grant, err := g.rooms.Grant(c.Request.Context(), p.claims, c.Param("room"))
			if err != nil {
				g.abort(c, err)
				return
			}
			p.grant = grant
			if !grant.Permissions.Has(need) {
				g.abort(c, errorf(http.StatusForbidden, codePermissionDenied, "this needs the %s permission", need))
				return
			}
		}
		c.Set(principalKey, p)
	}
}

// room loads the path's room or aborts with room_not_found: every handler of
// a room's path loads it with this.
func (g *gate) room(c *gin.Context) (storage.Room, bool) {
	r, err := g.rooms.Room(c.Request.Context(), c.Param("room"))
	if err != nil {
		g.abort(c, err)
		return storage.Room{}, false
	}
	return r, true
}

// caller returns the principal set by admin or adminOr.
func caller(c *gin.Context) principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(principal)
	return pr
}

// liveGrant re-checks the token of an open socket before it acts
// (rooms.Service.Grant: a cache hit unless the room changed). It returns the
// token's current permissions in room, and a reason to end the socket when
// the token no longer works there (revoked, banned, member deleted); other
// failures allow nothing this time.
func (g *gate) liveGrant(ctx context.Context, claims access.Claims, room string) (access.Permissions, string) {
	grant, err := g.rooms.Grant(ctx, claims, room)
	switch {
	case err == nil:
		return grant.Permissions, ""
	case errors.Is(err, rooms.ErrTokenRevoked), errors.Is(err, rooms.ErrBanned), errors.Is(err, access.ErrWrongRoom):
		e := apiError(err)
		return 0, e.Code + ": " + e.Message
	}
	g.log.Warn("live credential check failed", "room", room, "err", err)
	return 0, ""
}
