package sfu

// Tier is a resolution tier, 1 (sd) to 4 (4k); 0 means unlimited.
type Tier int

// The tiers of DESIGN.md.
const (
	TierSD  Tier = 1
	TierHD  Tier = 2
	TierFHD Tier = 3
	Tier4K  Tier = 4
)

// Bitrate is the video bitrate in bits per second the tier allows.
func (t Tier) Bitrate() int {
	switch t {
	case TierSD:
		return 1_000_000
	case TierHD:
		return 2_500_000
	case TierFHD:
		return 5_000_000
	case Tier4K:
		return 15_000_000
	}
	return 0
}

// layerFor picks which of n simulcast layers (0 lowest) a subscriber of tier sub
// gets in a room of tier room: the top layer at the room's tier, one lower per
// tier below it.
func layerFor(n int, sub, room Tier) int {
	if n <= 1 {
		return 0
	}
	if sub <= 0 || room <= 0 || sub >= room {
		return n - 1
	}
	return max(0, n-1-int(room-sub))
}
