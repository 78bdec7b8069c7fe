package api

import (
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// Kinds of secret a client may guess; each has its own limit per address, so
// a script with a stale stream key does not lock its office out of the console.
const (
	guessAPIKey    = "api_key"
	guessStreamKey = "stream_key"
)

// guessThrottle limits wrong API keys and stream keys per client address in a
// sliding window of a minute: past the limit, the address gets 429 for that
// kind of key, right or wrong, until its oldest failure leaves the window.
// Its map, keyed by "kind addr", is owned by mu.
type guessThrottle struct {
	limit int
	now   func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// guessWindow is the span over which wrong keys are counted.
const guessWindow = time.Minute

// guessSweepAbove is the number of tracked addresses past which expired ones
// are dropped, so a flood of addresses cannot grow the map without bound.
const guessSweepAbove = 4096

func newGuessThrottle(limit int, now func() time.Time) *guessThrottle {
	return &guessThrottle{limit: limit, now: now, failures: make(map[string][]time.Time)}
}

func (g *guessThrottle) retryAfter(kind, addr string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	times := g.recent(kind+" "+addr, now)
	if len(times) < g.limit {
		return 0
	}
	return times[len(times)-g.limit].Add(guessWindow).Sub(now)
}

func (g *guessThrottle) fail(kind, addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if len(g.failures) > guessSweepAbove {
		for k := range g.failures {
			g.recent(k, now)
		}
	}
	key := kind + " " + addr
	times := g.recent(key, now)
	if len(times) >= 2*g.limit {
		times = times[1:] // refused tries are not counted; keep the slice bounded
	}
	g.failures[key] = append(times, now)
}

// recent drops the failures of key older than the window and returns the rest.
func (g *guessThrottle) recent(key string, now time.Time) []time.Time {
	times := g.failures[key]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= guessWindow {
		i++
	}
	if times = times[i:]; len(times) == 0 {
		delete(g.failures, key)
		return nil
	}
	g.failures[key] = times
	return times
}

// guessKind says which kind of secret a request's bearer credential is, or
// "" for none or an access token (a JWT, verified by signature: guessing one
// is hopeless, and its failures are the signer's to count).
func guessKind(r *http.Request) string {
	cred, ok := bearerToken(r)
	switch {
	case !ok:
		return ""
	case strings.HasPrefix(cred, "sk_"):
		return guessStreamKey
	case strings.Count(cred, ".") == 2:
		return ""
	}
	return guessAPIKey
}

// limitGuesses refuses requests carrying an API key or a stream key from an
// address that sent too many wrong ones, and counts the wrong ones: the
// handlers' answers with code invalid_api_key or invalid_stream_key.
func (s *Server) limitGuesses(c *gin.Context) {
	kind := guessKind(c.Request)
	if kind == "" {
		c.Next()
		return
	}
	addr := c.ClientIP()
	if wait := s.guesses.retryAfter(kind, addr); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		e := errorf(http.StatusTooManyRequests, codeTooManyAttempts, "too many wrong keys from this address; try again in %d seconds", secs)
		e.RetryAfter = secs
		s.abort(c, e)
		return
	}
	c.Next()
	if code := c.GetString(errorCodeKey); code == codeInvalidAPIKey || code == codeInvalidStreamKey {
		s.guesses.fail(kind, addr)
	}
}

// StreamKeyGuesses is the stream-key limit for servers other than HTTP (the
// RTSP server), shared with WHIP: a wrong key counts against the address on
// every protocol.
func (s *Server) StreamKeyGuesses() StreamKeyGuesses {
	return StreamKeyGuesses{s.guesses}
}

// StreamKeyGuesses counts wrong stream keys per client address (an IP, no port).
type StreamKeyGuesses struct{ g *guessThrottle }

// RetryAfter is how long addr must wait before it may try a stream key again, or 0.
func (k StreamKeyGuesses) RetryAfter(addr string) time.Duration {
	return k.g.retryAfter(guessStreamKey, addr)
}

// Fail counts one wrong stream key from addr.
func (k StreamKeyGuesses) Fail(addr string) { k.g.fail(guessStreamKey, addr) }
