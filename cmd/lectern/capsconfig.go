package main

import "lectern/api"

// capsConfig is how many sessions one client address and one room may hold
// (api.Caps, docs/security.md "Caps").
type capsConfig struct {
	// RoomParticipants: room websockets and WHIP publishers in one room.
	RoomParticipants int `yaml:"max_room_participants"`
	// SocketsPerAddr: room and chat websockets open from one address.
	SocketsPerAddr int `yaml:"max_sockets_per_addr"`
	// WHEPPerRoom: WHEP viewers in one room.
	WHEPPerRoom int `yaml:"max_whep_per_room"`
	// WHEPPerAddr: WHEP sessions open from one address.
	WHEPPerAddr int `yaml:"max_whep_per_addr"`
}

func defaultCapsConfig() capsConfig {
	d := api.DefaultCaps()
	return capsConfig{RoomParticipants: d.RoomParticipants, SocketsPerAddr: d.SocketsPerAddr,
		WHEPPerRoom: d.WHEPPerRoom, WHEPPerAddr: d.WHEPPerAddr}
}

// caps is the API's form of c.
func (c capsConfig) caps() api.Caps {
	return api.Caps{RoomParticipants: c.RoomParticipants, SocketsPerAddr: c.SocketsPerAddr,
		WHEPPerRoom: c.WHEPPerRoom, WHEPPerAddr: c.WHEPPerAddr}
}

func init() {
	settings = append(settings,
		setting{"max_room_participants", "LECTERN_MAX_ROOM_PARTICIPANTS", "max-room-participants", "WebRTC participants (room websockets and WHIP publishers) one room may hold (then 409 room_full)", wholeNumber(func(c *config) *int { return &c.Caps.RoomParticipants })},
		setting{"max_sockets_per_addr", "LECTERN_MAX_SOCKETS_PER_ADDR", "max-sockets-per-addr", "room and chat websockets one client address may hold open (then 429 too_many_sessions)", wholeNumber(func(c *config) *int { return &c.Caps.SocketsPerAddr })},
		setting{"max_whep_per_room", "LECTERN_MAX_WHEP_PER_ROOM", "max-whep-per-room", "WHEP viewers one room may hold (then 409 room_full)", wholeNumber(func(c *config) *int { return &c.Caps.WHEPPerRoom })},
		setting{"max_whep_per_addr", "LECTERN_MAX_WHEP_PER_ADDR", "max-whep-per-addr", "WHEP sessions one client address may hold open (then 429 too_many_sessions)", wholeNumber(func(c *config) *int { return &c.Caps.WHEPPerAddr })},
	)
}
