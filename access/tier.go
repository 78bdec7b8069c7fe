package access

import "fmt"

// Tier is a resolution tier: the most a room or a member may send and receive.
type Tier string

// The tiers of DESIGN.md, lowest first.
const (
	SD  Tier = "sd"  // 854x480, about 1 Mbit/s
	HD  Tier = "hd"  // 1280x720, about 2.5 Mbit/s
	FHD Tier = "fhd" // 1920x1080, about 5 Mbit/s
	UHD Tier = "4k"  // 3840x2160, about 15 Mbit/s
)

var tierRank = map[Tier]int{SD: 1, HD: 2, FHD: 3, UHD: 4}

// ParseTier validates s as a tier name.
func ParseTier(s string) (Tier, error) {
	t := Tier(s)
	if tierRank[t] == 0 {
		return "", fmt.Errorf("%w: %q (want sd, hd, fhd or 4k)", ErrInvalidTier, s)
	}
	return t, nil
}

// Exceeds reports whether t is a higher tier than ceiling.
func (t Tier) Exceeds(ceiling Tier) bool { return tierRank[t] > tierRank[ceiling] }

// Rank orders tiers: 1 (sd) to 4 (4k); 0 for none (no cap).
func (t Tier) Rank() int { return tierRank[t] }

// Bitrate is the video bitrate in bits per second the tier allows; 0 for none.
func (t Tier) Bitrate() int {
	switch t {
	case SD:
		return 1_000_000
	case HD:
		return 2_500_000
	case FHD:
		return 5_000_000
	case UHD:
		return 15_000_000
	}
	return 0
}
