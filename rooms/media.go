package rooms

import (
	"lectern/access"
	"lectern/hls"
	"lectern/sfu"
	"lectern/storage"
)

// MediaOptions are the SFU settings of a stored room.
func MediaOptions(r storage.Room) sfu.RoomOptions {
	p := Policy(r)
	return sfu.RoomOptions{Broadcast: r.BroadcastHLS || r.BroadcastRecord, Tier: access.Tier(r.Tier),
		Refused: access.AllSources &^ p.Sources, NoSimulcast: !p.Simulcast}
}

// BroadcastSettings are the HLS service's settings of a stored room.
func BroadcastSettings(r storage.Room) hls.Settings {
	return hls.Settings{HLS: r.BroadcastHLS, Record: r.BroadcastRecord, Media: MediaOptions(r)}
}
