package chat

import (
	"errors"
	"time"
)

// Errors returned by the hub. Permission errors are distinct so that the API
// can say which permission is missing.
var (
	// ErrInvalid is a message the hub refuses as malformed; errors.As an
	// *InvalidError for the reason.
	ErrInvalid = errors.New("chat: invalid message")
	// ErrNoSend: posting needs the send permission.
	ErrNoSend = errors.New("chat: posting needs the send permission")
	// ErrNoReceive: reading or subscribing needs the receive permission.
	ErrNoReceive = errors.New("chat: receiving needs the receive permission")
	// ErrNoModerate: approving, answering, muting and deleting others'
	// messages need the moderate permission.
	ErrNoModerate = errors.New("chat: this needs the moderate permission")
	// ErrNoIdentity: an operator (API key) has no identity to post as.
	ErrNoIdentity = errors.New("chat: posting needs an access token naming who posts")
	// ErrNoDirect: in a webinar, the audience asks questions of the room and
	// sends no direct messages.
	ErrNoDirect = errors.New("chat: in a webinar, direct messages need publish or moderate; the audience asks questions")
	// ErrRateLimited, ErrSlowMode and ErrMuted come wrapped in a *LimitError
	// that says when to try again.
	ErrRateLimited = errors.New("chat: too many messages")
	ErrSlowMode    = errors.New("chat: slow mode")
	ErrMuted       = errors.New("chat: muted")
	// ErrRoomNotFound and ErrMessageNotFound: no such room, or no such
	// message that the caller may see.
	ErrRoomNotFound    = errors.New("chat: room not found")
	ErrMessageNotFound = errors.New("chat: message not found")
	// ErrNotMuted: there is no mute to lift.
	ErrNotMuted = errors.New("chat: not muted")
	// ErrWrongState: the message is deleted, or not a question in a state
	// the change applies to.
	ErrWrongState = errors.New("chat: the message is not in a state that allows this")
	// ErrTooSlow ends a subscription whose queue overflowed. Nothing is lost:
	// the subscriber resumes after the last seq it got.
	ErrTooSlow = errors.New("chat: subscriber too slow; resume after the last seq received")
	// ErrUnsubscribed ends a subscription closed by its owner.
	ErrUnsubscribed = errors.New("chat: unsubscribed")
	// ErrClosed: the hub has stopped.
	ErrClosed = errors.New("chat: hub closed")
)

// InvalidError says why a message or request is malformed. It matches ErrInvalid.
type InvalidError struct {
	Reason string
}

func (e *InvalidError) Error() string        { return "chat: invalid message: " + e.Reason }
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(reason string) error { return &InvalidError{Reason: reason} }

// LimitError is a post refused for now: it unwraps to ErrRateLimited,
// ErrSlowMode or ErrMuted.
type LimitError struct {
	Err error
	// RetryAfter is how long until a post may succeed.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return e.Err.Error() + "; retry in " + e.RetryAfter.String() }
func (e *LimitError) Unwrap() error { return e.Err }
