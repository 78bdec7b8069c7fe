package sfu

import "lectern/access"

// layerFor picks which of n simulcast layers (0 lowest) a subscriber of tier sub
// gets in a room of tier room: the top layer at the room's tier, one lower per
// tier below it. A tier of "" is no cap.
func layerFor(n int, sub, room access.Tier) int {
	if n <= 1 {
		return 0
	}
	s, r := sub.Rank(), room.Rank()
	if s == 0 || r == 0 || s >= r {
		return n - 1
	}
	return max(0, n-1-(r-s))
}
