package api

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/storage"
)

// principalKey is the gin context key of the authenticated caller.
const principalKey = "lectern.principal"

// principal is who is calling: an admin (API key) or the holder of an access token.
type principal struct {
	admin  bool
	claims access.Claims
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
// returns its claims and the grant in that room. The token comes from the
// Authorization header or, for clients that cannot set headers (browser
// websockets, media players), from the "token" query parameter.
func (s *Server) participant(c *gin.Context) (access.Claims, access.Grant, error) {
	tok, ok := bearerToken(c.Request)
	if !ok {
		tok = c.Query("token")
	}
	if tok == "" {
		return access.Claims{}, access.Grant{}, errorf(http.StatusUnauthorized, codeUnauthorized,
			"send an access token as Authorization: Bearer <token> or ?token=<token>")
	}
	claims, err := s.issuer.Verify(tok)
	if err != nil {
		return access.Claims{}, access.Grant{}, err
	}
	g, err := claims.Grant(c.Param("room"))
	if err != nil {
		return access.Claims{}, access.Grant{}, err
	}
	return claims, g, nil
}

// authenticate identifies the caller from the Authorization header. A credential
// with the shape of a JWT is verified as an access token; anything else is looked
// up as an API key.
func (s *Server) authenticate(c *gin.Context) (principal, error) {
	cred, ok := bearerToken(c.Request)
	if !ok {
		return principal{}, errorf(http.StatusUnauthorized, codeUnauthorized,
			"send Authorization: Bearer <API key or access token>")
	}
	if strings.Count(cred, ".") == 2 {
		claims, err := s.issuer.Verify(cred)
		if err != nil {
			return principal{}, err
		}
		return principal{claims: claims}, nil
	}
	sum := sha256.Sum256([]byte(cred))
	if _, err := s.db.APIKeyByHash(c.Request.Context(), sum[:]); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return principal{}, errorf(http.StatusUnauthorized, codeInvalidAPIKey, "the API key is not valid")
		}
		return principal{}, err
	}
	return principal{admin: true}, nil
}

// admin lets only API key holders through.
func (s *Server) admin(c *gin.Context) {
	p, err := s.authenticate(c)
	if err != nil {
		s.abort(c, err)
		return
	}
	if !p.admin {
		s.abort(c, errorf(http.StatusForbidden, codeAdminRequired, "this endpoint needs an API key, not an access token"))
		return
	}
	c.Set(principalKey, p)
}

// adminOr lets through API key holders and holders of a token for the path's room
// that has every permission in need.
func (s *Server) adminOr(need access.Permissions) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := s.authenticate(c)
		if err != nil {
			s.abort(c, err)
			return
		}
		if !p.admin {
			g, err := p.claims.Grant(c.Param("room"))
			if err != nil {
				s.abort(c, err)
				return
			}
			if !g.Permissions.Has(need) {
				s.abort(c, errorf(http.StatusForbidden, codePermissionDenied, "this needs the %s permission", need))
				return
			}
		}
		c.Set(principalKey, p)
	}
}

// caller returns the principal set by admin or adminOr.
func caller(c *gin.Context) principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(principal)
	return pr
}
