package api

import (
	"net/http"
	"sync"
	"time"

	"lectern/rooms"
)

// pinAlerts hands the PIN guard's alerts (rooms.PINGuard.OnAlert) to the room
// websockets of moderators. Its map is owned by mu; publish never blocks: a
// socket that has not written the last alert yet gets the newer one instead.
type pinAlerts struct {
	mu   sync.Mutex
	subs map[string]map[chan rooms.PINAlert]struct{}
}

// subscribe returns the alerts of room and the function that stops them.
func (h *pinAlerts) subscribe(room string) (<-chan rooms.PINAlert, func()) {
	ch := make(chan rooms.PINAlert, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[string]map[chan rooms.PINAlert]struct{}{}
	}
	if h.subs[room] == nil {
		h.subs[room] = map[chan rooms.PINAlert]struct{}{}
	}
	h.subs[room][ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[room], ch)
		if len(h.subs[room]) == 0 {
			delete(h.subs, room)
		}
	}
}

// publish gives a to every subscriber of its room, replacing an unread one.
func (h *pinAlerts) publish(a rooms.PINAlert) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[a.Room] {
		select {
		case <-ch:
		default:
		}
		ch <- a // the only sender, under mu: the buffer has room
	}
}

// pinAttackEvent is the room websocket's pin_attack event (docs/protocol.md).
type pinAttackEvent struct {
	Type string `json:"type"`
	rooms.PINAlert
}

// pinAlertJSON is a room's pin_alert field, shown to admins and moderators
// while the room's PINs are being guessed.
type pinAlertJSON struct {
	Since    time.Time `json:"since"`
	Failures int       `json:"failures"`
	Refused  int       `json:"refused"`
}

// withPINAlert adds the room's PIN alert, if any, to a moderator's view.
func withPINAlert(pins *rooms.PINGuard, v roomJSON) roomJSON {
	if a, ok := pins.Alert(v.ID); ok {
		v.PINAlert = &pinAlertJSON{Since: a.Since.UTC().Truncate(time.Second), Failures: a.Failures, Refused: a.Refused}
	}
	return v
}

// joinRefusal is the answer to a PIN join the guard did not admit.
func joinRefusal(err error, wait time.Duration) *Error {
	var e *Error
	switch err {
	case rooms.ErrTooManyJoins:
		e = errorf(http.StatusTooManyRequests, codeTooManyJoins, "too many joins from this address; try again in %d seconds", seconds(wait))
	case rooms.ErrPINChecksMetered:
		e = errorf(http.StatusTooManyRequests, codePINChecksSlowed, "this room's PINs are being guessed, so PIN joins are slowed down; try again in %d seconds", seconds(wait))
	default:
		e = errorf(http.StatusTooManyRequests, codeTooManyAttempts, "too many wrong PINs; try again in %d seconds", seconds(wait))
	}
	e.RetryAfter = seconds(wait)
	return e
}
