package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is where and how events are delivered. The keys named in errors
// are the server's configuration keys.
type Config struct {
	// URL receives every event as a POST (webhook_url).
	URL string
	// Secret keys the signatures (webhook_secret), at least 16 bytes.
	Secret string
	// Node names this server in events and in the outbox's claims.
	Node string
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// MinBackoff is the wait after the first failure; each further failure
	// doubles it up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// RetryFor is how long an event is retried before it is given up
	// (webhook_retry_for, at least an hour).
	RetryFor time.Duration
	// MaxOutbox bounds the events waiting in the database; past it, new
	// events are dropped (and counted and logged).
	MaxOutbox int
	// Queue bounds the events emitted and not yet stored; past it, Emit
	// drops (and counts and logs) rather than wait.
	Queue int
	// Workers is how many deliveries run at once (to different rooms).
	Workers int
	// Poll is how often the outbox is checked for due events when nothing
	// new was emitted here (events of other nodes, retries).
	Poll time.Duration
}

// DefaultConfig returns the defaults, without URL and secret.
func DefaultConfig() Config {
	return Config{Timeout: 10 * time.Second, MinBackoff: time.Second, MaxBackoff: 5 * time.Minute,
		RetryFor: 24 * time.Hour, MaxOutbox: 100_000, Queue: 4096, Workers: 8, Poll: 2 * time.Second}
}

// MinRetryFor is the shortest RetryFor Validate accepts from the server's
// configuration: a receiver down for an hour still gets everything.
const MinRetryFor = time.Hour

// Validate reports the first invalid value, naming its configuration key.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("webhook_url: %q is not an http(s) URL", c.URL)
	case u.User != nil:
		return errors.New("webhook_url: must not hold a user or password (the signature authenticates)")
	case len(c.Secret) < 16:
		return errors.New("webhook_secret: must be at least 16 characters")
	case c.Timeout <= 0, c.MinBackoff <= 0, c.MaxBackoff < c.MinBackoff, c.Poll <= 0:
		return errors.New("webhook: timeout, backoff and poll interval must be positive")
	case c.RetryFor <= 0:
		return errors.New("webhook_retry_for: must be positive")
	case c.MaxOutbox <= 0 || c.Queue <= 0 || c.Workers <= 0:
		return errors.New("webhook: outbox, queue and workers must be positive")
	}
	return nil
}
