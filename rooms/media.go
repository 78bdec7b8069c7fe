package rooms

import (
	"lectern/access"
	"lectern/hls"
	"lectern/sfu"
	"lectern/storage"
)

// MediaOptions are the SFU settings of a stored room.
func MediaOptions(r storage.Room) sfu.RoomOptions {
	return sfu.RoomOptions{Broadcast: r.BroadcastHLS || r.BroadcastRecord, Tier: MediaTier(access.Tier(r.Tier))}
}

// BroadcastSettings are the HLS service's settings of a stored room.
func BroadcastSettings(r storage.Room) hls.Settings {
	return hls.Settings{HLS: r.BroadcastHLS, Record: r.BroadcastRecord, Media: MediaOptions(r)}
}

// MediaPermissions are the parts of a grant the SFU enforces.
func MediaPermissions(p access.Permissions) sfu.Permissions {
	return sfu.Permissions{
		Publish:   p.Has(access.Publish),
		Subscribe: p.Has(access.Subscribe),
		List:      p.Has(access.List),
		Moderate:  p.Has(access.Moderate),
	}
}

// MediaTier is the SFU's spelling of a tier; 0 for none.
func MediaTier(t access.Tier) sfu.Tier {
	switch t {
	case access.SD:
		return sfu.TierSD
	case access.HD:
		return sfu.TierHD
	case access.FHD:
		return sfu.TierFHD
	case access.UHD:
		return sfu.Tier4K
	}
	return 0
}
