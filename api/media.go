package api

import (
	"lectern/access"
	"lectern/sfu"
	"lectern/storage"
)

// MediaOptions are the SFU settings of a stored room.
func MediaOptions(r storage.Room) sfu.RoomOptions {
	return sfu.RoomOptions{Broadcast: r.BroadcastHLS || r.BroadcastRecord, Tier: mediaTier(access.Tier(r.Tier))}
}

// mediaPermissions are the parts of a grant the SFU enforces.
func mediaPermissions(p access.Permissions) sfu.Permissions {
	return sfu.Permissions{
		Publish:   p.Has(access.Publish),
		Subscribe: p.Has(access.Subscribe),
		List:      p.Has(access.List),
		Moderate:  p.Has(access.Moderate),
	}
}

func mediaTier(t access.Tier) sfu.Tier {
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

// applyLivePermissions updates the participants of a room who joined as
// identity, so a change through the API takes effect at once.
func (s *Server) applyLivePermissions(roomID, identity string, p access.Permissions) {
	room, ok := s.media.LiveRoom(roomID)
	if !ok {
		return
	}
	for _, part := range room.Participants() {
		if part.Identity() == identity {
			part.SetPermissions(mediaPermissions(p))
		}
	}
}
