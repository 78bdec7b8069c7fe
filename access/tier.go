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
