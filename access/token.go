package access

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuer is the JWT "iss" of every Lectern token.
const issuer = "lectern"

// maxTokenLen bounds the work done on a token from outside before any parsing.
const maxTokenLen = 8 << 10

// Grant is what a token allows in one room.
type Grant struct {
	Permissions Permissions
	// Tier is the member's effective resolution tier in the room.
	Tier Tier
	// Sources are sources the member may send although the room's media
	// policy refuses them (its override); none by default.
	Sources Sources
}

// Claims is the content of an access token.
type Claims struct {
	ID string
	// App is the app the token belongs to ("" or "default": the default
	// app). Its room keys are that app's, and it is signed with the app's
	// key (Issuer).
	App       string
	Identity  string
	Name      string
	Rooms     map[string]Grant
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Grant returns what c allows in room, or ErrWrongRoom.
func (c Claims) Grant(room string) (Grant, error) {
	g, ok := c.Rooms[room]
	if !ok {
		return Grant{}, ErrWrongRoom
	}
	return g, nil
}

// Issuer signs and verifies access tokens (JWT, HS256). Tokens of the
// default app are signed with the server's secret key, as before apps;
// tokens of another app with a key derived from it and the app's ID
// (HMAC-SHA256), so a token of one app cannot be made to verify as
// another's. It is safe for concurrent use.
type Issuer struct {
	key []byte
	now func() time.Time
}

// NewIssuer returns an Issuer for key, which must be at least 32 bytes.
func NewIssuer(key []byte) (*Issuer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("access: signing key is %d bytes, want at least 32", len(key))
	}
	return &Issuer{key: key, now: time.Now}, nil
}

// jwtClaims is the wire form of Claims.
type jwtClaims struct {
	jwt.RegisteredClaims
	Name  string              `json:"name,omitempty"`
	App   string              `json:"app,omitempty"`
	Rooms map[string]jwtGrant `json:"rooms"`
}

// defaultApp is the app of tokens that name none.
const defaultApp = "default"

// appKey returns the key that signs the tokens of app.
func (i *Issuer) appKey(app string) []byte {
	if app == "" || app == defaultApp {
		return i.key
	}
	m := hmac.New(sha256.New, i.key)
	m.Write([]byte("lectern app token key\x00" + app))
	return m.Sum(nil)
}

type jwtGrant struct {
	Permissions string `json:"p"`
	Tier        string `json:"t,omitempty"`
	Sources     string `json:"s,omitempty"`
}

// Sign returns the signed token for c. ID, IssuedAt and ExpiresAt must be set.
func (i *Issuer) Sign(c Claims) (string, error) {
	if c.ID == "" || c.Identity == "" || c.ExpiresAt.IsZero() {
		return "", errors.New("access: sign: id, identity and expiry are required")
	}
	rooms := make(map[string]jwtGrant, len(c.Rooms))
	for id, g := range c.Rooms {
		rooms[id] = jwtGrant{Permissions: g.Permissions.String(), Tier: string(g.Tier), Sources: g.Sources.String()}
	}
	jc := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   c.Identity,
			ID:        c.ID,
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
		Name:  c.Name,
		Rooms: rooms,
	}
	if c.App != defaultApp {
		jc.App = c.App
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jc).SignedString(i.appKey(c.App))
	if err != nil {
		return "", fmt.Errorf("access: sign: %w", err)
	}
	return s, nil
}

// Verify checks the token's signature, issuer and expiry and returns its claims.
// Errors are ErrTokenMalformed, ErrTokenExpired or ErrTokenInvalid.
func (i *Issuer) Verify(token string) (Claims, error) {
	if token == "" || len(token) > maxTokenLen {
		return Claims{}, ErrTokenMalformed
	}
	var jc jwtClaims
	// The key is the app's the token names: the claims are decoded, not yet
	// trusted, when it is chosen.
	_, err := jwt.ParseWithClaims(token, &jc, func(*jwt.Token) (any, error) { return i.appKey(jc.App), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(i.now),
	)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Claims{}, ErrTokenMalformed
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, ErrTokenExpired
	default:
		return Claims{}, ErrTokenInvalid
	}
	if jc.Subject == "" || jc.ID == "" {
		return Claims{}, ErrTokenInvalid
	}
	app := jc.App
	if app == "" {
		app = defaultApp
	}
	c := Claims{
		ID:        jc.ID,
		App:       app,
		Identity:  jc.Subject,
		Name:      jc.Name,
		Rooms:     make(map[string]Grant, len(jc.Rooms)),
		ExpiresAt: jc.ExpiresAt.Time,
	}
	if jc.IssuedAt != nil {
		c.IssuedAt = jc.IssuedAt.Time
	}
	for id, g := range jc.Rooms {
		p, err := ParsePermissions(g.Permissions)
		if err != nil {
			return Claims{}, ErrTokenInvalid
		}
		var t Tier
		if g.Tier != "" {
			if t, err = ParseTier(g.Tier); err != nil {
				return Claims{}, ErrTokenInvalid
			}
		}
		s, err := ParseSources(g.Sources)
		if err != nil {
			return Claims{}, ErrTokenInvalid
		}
		c.Rooms[id] = Grant{Permissions: p, Tier: t, Sources: s}
	}
	return c, nil
}
