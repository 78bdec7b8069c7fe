package api

import (
	"fmt"
	"net/http"
	"sync"

	"lectern/storage"
)

// Caps bound the sessions that hold server resources (a websocket's
// goroutines and buffers, a participant's peer connections) per client
// address and per room, so that one credential or one address cannot fill
// the server (docs/security.md "Caps").
type Caps struct {
	// RoomParticipants caps a room's WebRTC participants: room websockets and
	// WHIP publishers. A session that replaces one of the same identity and
	// kind (sfu.Room.Join) takes its place and is never refused for it.
	RoomParticipants int
	// SocketsPerAddr caps the room and chat websockets open from one client
	// address together.
	SocketsPerAddr int
	// WHEPPerRoom caps a room's WHEP viewers (distinct identities, as above).
	WHEPPerRoom int
	// WHEPPerAddr caps the WHEP sessions open from one client address.
	WHEPPerAddr int
}

// DefaultCaps leave room for a webinar of hundreds of WebRTC participants
// and for a school or office behind one NAT address (each person holds a
// room websocket and perhaps a chat websocket), while a flood from one
// address stops at a few hundred sessions.
func DefaultCaps() Caps {
	return Caps{RoomParticipants: 1000, SocketsPerAddr: 200, WHEPPerRoom: 1000, WHEPPerAddr: 50}
}

// sessionKind is what a counted session is; each kind counts in its own buckets.
type sessionKind int

const (
	sessionRoomSocket sessionKind = iota // room websocket: a browser participant
	sessionChatSocket                    // chat websocket
	sessionWHIP                          // WHIP publisher
	sessionWHEP                          // WHEP viewer
)

// sessionCaps counts live sessions against Caps. Every counter is a tally of
// distinct holders in a bucket: per address a holder is one session, per room
// it is one identity of a kind, since the SFU keeps one participant per
// identity and kind. Its tallies are owned by mu.
type sessionCaps struct {
	caps Caps

	mu          sync.Mutex
	addrSockets tally // address -> sessions
	addrWHEP    tally // address -> sessions
	roomMembers tally // room -> "kind identity"
	roomWHEP    tally // room -> identity
	appMembers  tally // app -> "room kind identity": its WebRTC participants here
}

func newSessionCaps(c Caps) *sessionCaps {
	return &sessionCaps{caps: c, addrSockets: tally{}, addrWHEP: tally{}, roomMembers: tally{}, roomWHEP: tally{}, appMembers: tally{}}
}

// count is one hold on one tally.
type count struct {
	t              tally
	limit          int
	bucket, holder string
	err            func() *Error
}

// acquire counts a new session of kind k from addr for identity in room, or
// refuses it past a cap: 429 too_many_sessions for the address, 409
// room_full for the room. release ends the hold; it may be called more than
// once.
func (sc *sessionCaps) acquire(k sessionKind, addr, room, identity string) (release func(), err error) {
	session := randomText(12)
	perAddr := func(what, key string, n int) func() *Error {
		return func() *Error {
			return errorf(http.StatusTooManyRequests, codeTooManySessions,
				"this address already has %d %s open, the most allowed (%s)", n, what, key)
		}
	}
	perRoom := func(what, key string, n int) func() *Error {
		return func() *Error {
			return errorf(http.StatusConflict, codeRoomFull, "room %s already has %d %s, the most allowed (%s)", room, n, what, key)
		}
	}
	var holds []count
	switch k {
	case sessionRoomSocket, sessionChatSocket:
		holds = append(holds, count{sc.addrSockets, sc.caps.SocketsPerAddr, addr, session,
			perAddr("websockets", "max_sockets_per_addr", sc.caps.SocketsPerAddr)})
	case sessionWHEP:
		holds = append(holds, count{sc.addrWHEP, sc.caps.WHEPPerAddr, addr, session,
			perAddr("WHEP sessions", "max_whep_per_addr", sc.caps.WHEPPerAddr)})
	}
	switch k {
	case sessionRoomSocket, sessionWHIP:
		holds = append(holds, count{sc.roomMembers, sc.caps.RoomParticipants, room, kindName(k) + " " + identity,
			perRoom("participants", "max_room_participants", sc.caps.RoomParticipants)})
	case sessionWHEP:
		holds = append(holds, count{sc.roomWHEP, sc.caps.WHEPPerRoom, room, identity,
			perRoom("WHEP viewers", "max_whep_per_room", sc.caps.WHEPPerRoom)})
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, h := range holds {
		if h.t.full(h.bucket, h.holder, h.limit) {
			return nil, h.err()
		}
	}
	for _, h := range holds {
		h.t.add(h.bucket, h.holder)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			sc.mu.Lock()
			defer sc.mu.Unlock()
			for _, h := range holds {
				h.t.remove(h.bucket, h.holder)
			}
		})
	}, nil
}

// acquireInApp is acquire for a WebRTC participant (room websocket, WHIP,
// WHEP) of a room whose app allows at most appMax concurrent participants
// on this node (negative: no limit); past it, 403 app_limit_reached.
func (sc *sessionCaps) acquireInApp(k sessionKind, addr, room, identity string, appMax int64) (release func(), err error) {
	app, holder := storage.KeyApp(room), room+" "+kindName(k)+" "+identity
	if k == sessionWHEP {
		holder = room + " whep " + identity
	}
	sc.mu.Lock()
	if appMax >= 0 && sc.appMembers.full(app, holder, int(appMax)) {
		sc.mu.Unlock()
		return nil, apiError(&storage.LimitError{Limit: storage.LimitParticipants, Max: appMax})
	}
	sc.appMembers.add(app, holder)
	sc.mu.Unlock()
	var once sync.Once
	releaseApp := func() {
		once.Do(func() {
			sc.mu.Lock()
			defer sc.mu.Unlock()
			sc.appMembers.remove(app, holder)
		})
	}
	rel, err := sc.acquire(k, addr, room, identity)
	if err != nil {
		releaseApp()
		return nil, err
	}
	return func() { rel(); releaseApp() }, nil
}

func kindName(k sessionKind) string {
	if k == sessionWHIP {
		return "whip"
	}
	return "browser"
}

// tally counts, per bucket, the holds of each holder. A holder counts once
// however many holds it has: a session replacing its predecessor overlaps it
// for a moment.
type tally map[string]map[string]int

// full reports whether a new hold by holder would pass limit.
func (t tally) full(bucket, holder string, limit int) bool {
	h := t[bucket]
	return h[holder] == 0 && len(h) >= limit
}

func (t tally) add(bucket, holder string) {
	h := t[bucket]
	if h == nil {
		h = map[string]int{}
		t[bucket] = h
	}
	h[holder]++
}

func (t tally) remove(bucket, holder string) {
	h := t[bucket]
	if h[holder]--; h[holder] <= 0 {
		delete(h, holder)
	}
	if len(h) == 0 {
		delete(t, bucket) // so spent addresses and rooms do not pile up
	}
}

// validate reports the first cap below 1, naming its configuration key.
func (c Caps) validate() error {
	for _, f := range []struct {
		key string
		v   int
	}{{"max_room_participants", c.RoomParticipants}, {"max_sockets_per_addr", c.SocketsPerAddr},
		{"max_whep_per_room", c.WHEPPerRoom}, {"max_whep_per_addr", c.WHEPPerAddr}} {
		if f.v < 1 {
			return fmt.Errorf("%s: must be at least 1", f.key)
		}
	}
	return nil
}
