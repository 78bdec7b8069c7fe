package ingest

import (
	"context"
	"crypto/subtle"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"

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

// Grant is what verified credentials allow in a room.
type Grant struct {
	Identity, Name     string
	Publish, Subscribe bool
	Options            sfu.RoomOptions
}

var roomPath = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// parseRoom turns an RTSP path ("/room" or "room/") into a room ID.
func parseRoom(path string) (string, error) {
	room := strings.Trim(path, "/")
	if !roomPath.MatchString(room) {
		return "", ErrBadPath
	}
	return room, nil
}

// credentials returns what a request authenticates with: a token from the
// query or from the password of Basic authentication, or the Digest/Basic
// user for a stream key check. Digest cannot carry a token (the server would
// need it in advance), so Digest clients put tokens in the query.
type credentials struct {
	token  string
	method headers.AuthMethod
	user   string
	pass   string // Basic only
	any    bool
}

func parseCredentials(req *base.Request, query string) credentials {
	var c credentials
	if q, err := url.ParseQuery(query); err == nil && q.Get("token") != "" {
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

// authorize checks the request's credentials for room: a token, or the room's
// stream key, which allows publishing by one encoder.
func (s *Server) authorize(ctx context.Context, conn *gortsplib.ServerConn, req *base.Request, room, query string) (Grant, error) {
	c := parseCredentials(req, query)
	if !c.any {
		// gortsplib makes the Digest nonce of its challenge on the first
		// verification; make it now so the 401 carries a usable one.
		conn.VerifyCredentials(req, "lectern", "")
		return Grant{}, ErrNoCredentials
	}
	if c.token != "" {
		g, err := s.auth.Token(ctx, room, c.token)
		if err != nil {
			return Grant{}, ErrBadCredentials
		}
		return g, nil
	}
	key, opts, err := s.auth.StreamKey(ctx, room)
	if err != nil {
		return Grant{}, err
	}
	if key == "" {
		return Grant{}, ErrBadCredentials
	}
	ok := false
	switch c.method {
	case headers.AuthMethodBasic:
		ok = subtle.ConstantTimeCompare([]byte(c.pass), []byte(key)) == 1
	case headers.AuthMethodDigest:
		ok = c.user != "" && conn.VerifyCredentials(req, c.user, key)
	}
	if !ok {
		return Grant{}, ErrBadCredentials
	}
	return Grant{Identity: "encoder", Name: "Encoder", Publish: true, Options: opts}, nil
}
