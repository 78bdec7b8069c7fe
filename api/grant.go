package api

import (
	"crypto/subtle"
	"net/http"

	"lectern/access"
	"lectern/storage"
)

// defaultPermissions is what a member of a room gets when nobody said otherwise.
func defaultPermissions(mode string) access.Permissions {
	if mode == modeWebinar {
		return access.Viewer
	}
	return access.Member
}

// pinPermissions returns the permissions that pin opens in r, comparing in
// constant time, and whether it matched at all.
func pinPermissions(r storage.Room, pin string) (access.Permissions, bool) {
	speaker := subtle.ConstantTimeCompare([]byte(pin), []byte(r.SpeakerPIN)) == 1
	audience := subtle.ConstantTimeCompare([]byte(pin), []byte(r.PIN)) == 1
	switch {
	case speaker:
		// The speaker PIN is the host's, in a webinar as in a conference: it
		// publishes and moderates (goes on air, records, mutes, removes).
		// Co-presenters who should not moderate get a token with the
		// speaker preset instead.
		return access.Host, true
	case audience && r.Mode == modeWebinar && r.ChatQuestions:
		// The room takes questions: its audience may post (as questions).
		return access.Viewer | access.Send, true
	case audience:
		return defaultPermissions(r.Mode), true
	}
	return 0, false
}

// effectiveTier is the member's tier capped by the room's; "" means the room's.
func effectiveTier(r storage.Room, memberTier string) access.Tier {
	room := access.Tier(r.Tier)
	t := access.Tier(memberTier)
	if t == "" || t.Exceeds(room) {
		return room
	}
	return t
}

// memberTier validates a tier override against the room's ceiling.
func memberTier(r storage.Room, tier string, code string) (string, error) {
	if tier == "" {
		return "", nil
	}
	t, err := access.ParseTier(tier)
	if err != nil {
		return "", errorf(http.StatusBadRequest, code, "tier: %q is not sd, hd, fhd or 4k", tier)
	}
	if t.Exceeds(access.Tier(r.Tier)) {
		return "", errorf(http.StatusBadRequest, code, "tier: %s is above the room's tier %s", t, r.Tier)
	}
	return tier, nil
}

// permissionChoice is how a request may set permissions: an explicit set or a preset name.
type permissionChoice struct {
	Permissions *access.Permissions `json:"permissions"`
	Preset      *string             `json:"preset"`
}

// resolve returns the chosen permissions, or fallback when neither field is set.
func (pc permissionChoice) resolve(fallback access.Permissions, code string) (access.Permissions, error) {
	switch {
	case pc.Permissions != nil && pc.Preset != nil:
		return 0, errorf(http.StatusBadRequest, code, "permissions, preset: give one, not both")
	case pc.Permissions != nil:
		return *pc.Permissions, nil
	case pc.Preset != nil:
		p, err := access.Preset(*pc.Preset)
		if err != nil {
			return 0, errorf(http.StatusBadRequest, code, "preset: %q is not member, speaker, host or viewer", *pc.Preset)
		}
		return p, nil
	}
	return fallback, nil
}
