package chat

import (
	"errors"
	"time"
)

// Config tunes the hub. The zero value is not valid; start from DefaultConfig.
type Config struct {
	// Recent is how many of the latest messages a subscriber that does not
	// resume gets before the live ones.
	Recent int
	// BacklogPage bounds one page of a resuming subscriber's backlog.
	BacklogPage int
	// QueueFrames bounds the frames waiting for one subscriber; one that
	// falls further behind is dropped with ErrTooSlow and resumes.
	QueueFrames int
	// DeliveryInterval is the least time between two deliveries to a room:
	// changes arriving within it go out together, in one frame per
	// subscriber. An idle room delivers at once. Each frame costs a system
	// call per subscriber, so this trades latency for CPU in busy rooms
	// (docs/benchmarks.md "Chat").
	DeliveryInterval time.Duration
	// RatePerSecond and RateBurst limit each sender in each room.
	RatePerSecond float64
	RateBurst     int
	// MaxBatch bounds the messages stored in one transaction.
	MaxBatch int
	// Now is the clock of message times, mutes and limits.
	Now func() time.Time
	// OnQuestion, if set, is called with every question stored pending a
	// moderator's approval (webhooks). It runs on the poster's goroutine
	// and must not block.
	OnQuestion func(Message)
}

// DefaultConfig returns the settings a newcomer gets.
func DefaultConfig() Config {
	return Config{
		Recent:           50,
		BacklogPage:      500,
		QueueFrames:      256,
		DeliveryInterval: 30 * time.Millisecond,
		RatePerSecond:    5,
		RateBurst:        10,
		MaxBatch:         128,
		Now:              time.Now,
	}
}

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	switch {
	case c.Recent < 0 || c.Recent > 1000:
		return errors.New("chat_recent: must be 0 to 1000")
	case c.BacklogPage < 1:
		return errors.New("chat_backlog_page: must be at least 1")
	case c.QueueFrames < 1:
		return errors.New("chat_queue_frames: must be at least 1")
	case c.DeliveryInterval < 0 || c.DeliveryInterval > time.Second:
		return errors.New("chat_delivery_interval: must be 0 to 1s")
	case c.RatePerSecond <= 0 || c.RateBurst < 1:
		return errors.New("chat_rate: must be positive, with a burst of at least 1")
	case c.MaxBatch < 1:
		return errors.New("chat_max_batch: must be at least 1")
	case c.Now == nil:
		return errors.New("chat: Now is required")
	}
	return nil
}
