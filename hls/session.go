package hls

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Sessions are the signed credential in HLS URIs, so that serving a playlist,
// a part or a segment costs one HMAC and no token or database work. A session
// names a room and an expiry, nothing about the viewer: everyone who starts
// watching a room in the same sessionQuantum gets the same session and so the
// same URLs, which lets a CDN cache each part once for all of them.
const (
	sessionQuantum = 5 * time.Minute
	sessionMACLen  = 12
	sessionLen     = 4 + sessionMACLen
)

// sessionEncoding is strict: the last character's unused bits must be zero,
// so each session has exactly one spelling (FuzzSession found four).
var sessionEncoding = base64.RawURLEncoding.Strict()

// sessionSigner signs and checks sessions with a key derived from the server's.
type sessionSigner struct{ key []byte }

func newSessionSigner(secret []byte) sessionSigner {
	return deriveSigner(secret, "lectern hls session v1")
}

// deriveSigner keys a signer for one purpose, so that a session of one
// purpose is never accepted for another.
func deriveSigner(secret []byte, purpose string) sessionSigner {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return sessionSigner{key: m.Sum(nil)}
}

// Signer makes sessions like the HLS ones for other signed URLs (recording
// playback): a scope (such as a recording ID) and an expiry, signed.
type Signer struct{ s sessionSigner }

// NewSigner returns a signer for purpose, keyed by the server's secret.
func NewSigner(secret []byte, purpose string) Signer { return Signer{deriveSigner(secret, purpose)} }

// Sign returns a session for scope valid until exp (whole seconds).
func (g Signer) Sign(scope string, exp time.Time) string { return g.s.sign(scope, exp) }

// Check verifies a session for scope at now; ErrSession if it is malformed,
// forged or expired.
func (g Signer) Check(scope, session string, now time.Time) error {
	return g.s.check(scope, session, now)
}

// sign returns the session for room valid until exp (whole seconds).
func (s sessionSigner) sign(room string, exp time.Time) string {
	var b [sessionLen]byte
	binary.BigEndian.PutUint32(b[:4], uint32(exp.Unix()))
	copy(b[4:], s.mac(room, b[:4]))
	return sessionEncoding.EncodeToString(b[:])
}

// expiry is when a session minted now should end: the quantum boundary after
// now+ttl, so that viewers share it, but never after the viewer's token.
func expiry(now time.Time, ttl time.Duration, tokenExpiry time.Time) time.Time {
	exp := now.Add(ttl).Truncate(sessionQuantum).Add(sessionQuantum)
	if !tokenExpiry.IsZero() && tokenExpiry.Before(exp) {
		exp = tokenExpiry.Truncate(time.Second)
	}
	return exp
}

// check verifies a session for room at now.
func (s sessionSigner) check(room, session string, now time.Time) error {
	if len(session) != sessionEncoding.EncodedLen(sessionLen) {
		return ErrSession
	}
	var b [sessionLen]byte
	if n, err := sessionEncoding.Decode(b[:], []byte(session)); err != nil || n != sessionLen {
		return ErrSession
	}
	if !hmac.Equal(b[4:], s.mac(room, b[:4])) {
		return ErrSession
	}
	if int64(binary.BigEndian.Uint32(b[:4])) <= now.Unix() {
		return ErrSession
	}
	return nil
}

func (s sessionSigner) mac(room string, exp []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(room))
	m.Write([]byte{0})
	m.Write(exp)
	return m.Sum(nil)[:sessionMACLen]
}
