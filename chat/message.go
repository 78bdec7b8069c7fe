package chat

import (
	"encoding/json"
	"time"

	"lectern/storage"
)

// Message is a chat message as clients see it, in its current state.
type Message struct {
	ID int64 `json:"id"`
	// Seq is the position of the message's latest change in the room's
	// stream: its ID when new, a new value when deleted or when its question
	// state changes. Subscribers resume after the last seq they got.
	Seq      int64  `json:"seq"`
	Room     string `json:"room"`
	From     string `json:"from"`
	FromName string `json:"from_name"`
	// To is the recipient of a direct message; empty for the room.
	To string `json:"to,omitempty"`
	// Kind is "message" or "question"; a question has a State: "pending",
	// "approved" or "answered".
	Kind      string    `json:"kind"`
	State     string    `json:"state,omitempty"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
	// DeletedAt is set on a tombstone, whose Text is empty.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

func wire(m storage.Message) Message {
	out := Message{ID: m.ID, Seq: m.Seq, Room: m.RoomID, From: m.Sender, FromName: m.SenderName, To: m.Recipient,
		Kind: m.Kind, State: m.State, Text: m.Text, CreatedAt: m.CreatedAt}
	if m.Deleted() {
		at := m.DeletedAt
		out.DeletedAt = &at
	}
	return out
}

// Event types.
const (
	// EventMessage is a new message.
	EventMessage = "message"
	// EventUpdate is a question whose state changed (approved, answered).
	// To a viewer who could not see it while pending, it is new.
	EventUpdate = "update"
	// EventDelete is a tombstone: the message was deleted.
	EventDelete = "delete"
)

// Event is one change in a room's chat. Every event carries the message's
// full current state, so clients may simply upsert by ID.
type Event struct {
	Type    string  `json:"type"`
	Message Message `json:"message"`
}

func event(m storage.Message) Event {
	typ := EventMessage
	switch {
	case m.Deleted():
		typ = EventDelete
	case m.Seq != m.ID:
		typ = EventUpdate
	}
	return Event{Type: typ, Message: wire(m)}
}

// Frame is what a subscriber gets at once: events in seq order, and their
// encoding as one websocket frame, {"type":"chat","events":[...]}, shared by
// every subscriber that sees the same events. Neither may be modified.
type Frame struct {
	Events []Event
	JSON   []byte
}

// Last returns the seq of the frame's last event, or 0 if it has none.
func (f Frame) Last() int64 {
	if len(f.Events) == 0 {
		return 0
	}
	return f.Events[len(f.Events)-1].Message.Seq
}

// encoded is an event with its JSON, made once per delivery round.
type encoded struct {
	msg  storage.Message
	ev   Event
	json []byte
}

func encode(m storage.Message) encoded {
	ev := event(m)
	data, _ := json.Marshal(ev) // plain strings, numbers and times: cannot fail
	return encoded{msg: m, ev: ev, json: data}
}

const framePrefix, frameSuffix = `{"type":"chat","events":[`, `]}`

// frame assembles the events of evs at the indices sel.
func frame(evs []encoded, sel []int) Frame {
	n := len(framePrefix) + len(frameSuffix)
	for _, i := range sel {
		n += len(evs[i].json) + 1
	}
	f := Frame{Events: make([]Event, 0, len(sel)), JSON: make([]byte, 0, n)}
	f.JSON = append(f.JSON, framePrefix...)
	for k, i := range sel {
		if k > 0 {
			f.JSON = append(f.JSON, ',')
		}
		f.JSON = append(f.JSON, evs[i].json...)
		f.Events = append(f.Events, evs[i].ev)
	}
	f.JSON = append(f.JSON, frameSuffix...)
	return f
}

// frameOf encodes a page of messages, all of which the subscriber may see.
func frameOf(ms []storage.Message) Frame {
	evs := make([]encoded, len(ms))
	sel := make([]int, len(ms))
	for i, m := range ms {
		evs[i] = encode(m)
		sel[i] = i
	}
	return frame(evs, sel)
}
