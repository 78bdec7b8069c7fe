package ingest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"

	"lectern/access"
	"lectern/sfu"
)

// Authorizer checks credentials against Lectern's tokens and stream keys. It is
// implemented where tokens and rooms live (cmd/lectern wires it).
type Authorizer interface {
	// Token verifies an access token for room and returns what it allows.
	Token(ctx context.Context, room, token string) (Grant, error)
	// StreamKey returns the room's stream key ("" if it has none) and its media
	// options; ErrRoomNotFound if there is no such room.
	StreamKey(ctx context.Context, room string) (string, sfu.RoomOptions, error)
}

// Scoper is an Authorizer of a server that serves several apps
// (docs/security.md "Apps"): the request's credential decides whose room
// the path's name is.
type Scoper interface {
	// RoomKey returns the key of the room that name addresses for the
	// request's credential (a token, or a stream key sent in clear), or,
	// when it names no app, for the app of the query's "app" parameter;
	// an error wrapping ErrRoomNotFound when the name is another app's.
	RoomKey(ctx context.Context, name, credential, query string) (string, error)
}

// scope turns t's room name into the key of the room the request's
// credential addresses, when the Authorizer is a Scoper. Everything after
// it (placement, the credential check, the media hub, the readers) uses the
// key.
func (s *Server) scope(req *base.Request, t *target, query string) error {
	sc, ok := s.auth.(Scoper)
	if !ok {
		return nil
	}
	c := parseCredentials(req, t.token, query)
	cred := c.token
	if cred == "" && c.method == headers.AuthMethodBasic {
		cred = c.pass
	}
	ctx, cancel := requestContext()
	defer cancel()
	key, err := sc.RoomKey(ctx, t.room, cred, query)
	if err != nil {
		return err
	}
	t.room = key
	return nil
}

// Grant is what verified credentials allow in a room.
type Grant struct {
	Identity, Name     string
	Publish, Subscribe bool
	Options            sfu.RoomOptions
	// Sources are what the encoder may send beyond the room's media policy
	// (a token's media override).
	Sources access.Sources
}

var roomPath = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// credentials returns what a request authenticates with: a token from the
// path, the query or the password of Basic authentication, or the
// Digest/Basic user for a stream key check. Digest cannot carry a token (the
// server would need it in advance), so Digest clients put tokens in the path
// or the query.
type credentials struct {
	token  string
	method headers.AuthMethod
	user   string
	pass   string // Basic only
	any    bool
}

func parseCredentials(req *base.Request, pathToken, query string) credentials {
	var c credentials
	if pathToken != "" {
		c.token, c.any = pathToken, true
	} else if q, err := url.ParseQuery(query); err == nil && q.Get("token") != "" {
		c.token, c.any = q.Get("token"), true
	}
	v, ok := req.Header["Authorization"]
	if !ok {
		return c
	}
	var h headers.Authorization
	if err := h.Unmarshal(v); err != nil {
		return c
	}
	c.any, c.method, c.user = true, h.Method, h.Username
	if h.Method == headers.AuthMethodBasic {
		c.pass = h.BasicPass
		if c.token == "" && strings.Count(h.BasicPass, ".") == 2 {
			c.token = h.BasicPass
		}
	}
	return c
}

// requestContext bounds the credential checks of one RTSP request (gortsplib
// requests carry no context).
func requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// challengeError refuses a request that carried no credentials. digest says
// whether the challenge offers Digest: only a stream key can meet it, so it
// is offered to encoders of rooms that have one. Clients pick Digest when it
// is offered (GStreamer, ffmpeg), and a token given as the password would then
// fail.
type challengeError struct{ digest bool }

func (e challengeError) Error() string { return ErrNoCredentials.Error() }
func (e challengeError) Unwrap() error { return ErrNoCredentials }

// basicChallenge is the WWW-Authenticate header of a 401 that offers Basic only.
var basicChallenge = headers.Authenticate{Method: headers.AuthMethodBasic, Realm: "Lectern"}.Marshal()

// authorize checks the request's credentials for the target room: a token, or
// the room's stream key, which allows publishing by one encoder. publish says
// whether the request is an encoder's.
func (s *Server) authorize(ctx context.Context, conn *gortsplib.ServerConn, req *base.Request, t target, query string, publish bool) (Grant, error) {
	c := parseCredentials(req, t.token, query)
	if !c.any {
		if !publish {
			return Grant{}, challengeError{}
		}
		key, _, err := s.auth.StreamKey(ctx, t.room)
		if err != nil || key == "" {
			return Grant{}, challengeError{}
		}
		// gortsplib makes the Digest nonce of its challenge on the first
		// verification; make it now so the 401 carries a usable one.
		conn.VerifyCredentials(req, "lectern", "")
		return Grant{}, challengeError{digest: true}
	}
	if c.token != "" {
		g, err := s.auth.Token(ctx, t.room, c.token)
		if errors.Is(err, ErrRoomNotFound) {
			return Grant{}, err
		}
		if err != nil {
			return Grant{}, fmt.Errorf("%w: token: %w", ErrBadCredentials, err)
		}
		return g, nil
	}
	key, opts, err := s.auth.StreamKey(ctx, t.room)
	if err != nil {
		return Grant{}, err
	}
	if key == "" {
		return Grant{}, fmt.Errorf("%w: the room has no stream key", ErrBadCredentials)
	}
	ok := false
	switch c.method {
	case headers.AuthMethodBasic:
		ok = subtle.ConstantTimeCompare([]byte(c.pass), []byte(key)) == 1
	case headers.AuthMethodDigest:
		ok = c.user != "" && conn.VerifyCredentials(req, c.user, key)
	}
	if !ok {
		return Grant{}, fmt.Errorf("%w: wrong stream key", ErrBadCredentials)
	}
	return Grant{Identity: "encoder", Name: "Encoder", Publish: true, Options: opts}, nil
}
