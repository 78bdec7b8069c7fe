package api

import (
	"errors"
	"net/http"

	"lectern/access"
	"lectern/rooms"
	"lectern/storage"
)

// The rules of grants (PINs, tiers, members, revocation) live in package
// rooms; this file turns requests into its terms and its errors into the API's.

// memberTier validates a tier override against the room's ceiling.
func memberTier(r storage.Room, tier string, code string) (string, error) {
	err := rooms.CheckTier(r, tier)
	switch {
	case errors.Is(err, rooms.ErrInvalidTier):
		return "", errorf(http.StatusBadRequest, code, "tier: %q is not sd, hd, fhd or 4k", tier)
	case errors.Is(err, rooms.ErrTierAboveRoom):
		return "", errorf(http.StatusBadRequest, code, "tier: %s is above the room's tier %s", tier, r.Tier)
	}
	return tier, err
}

// permissionChoice is how a request may set permissions: an explicit set or a preset name.
type permissionChoice struct {
	Permissions *access.Permissions `json:"permissions"`
	Preset      *string             `json:"preset"`
}

// chosen returns the chosen permissions, or nil when neither field is set.
func (pc permissionChoice) chosen(code string) (*access.Permissions, error) {
	switch {
	case pc.Permissions != nil && pc.Preset != nil:
		return nil, errorf(http.StatusBadRequest, code, "permissions, preset: give one, not both")
	case pc.Permissions != nil:
		return pc.Permissions, nil
	case pc.Preset != nil:
		p, err := access.Preset(*pc.Preset)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, code, "preset: %q is not member, speaker, host or viewer", *pc.Preset)
		}
		return &p, nil
	}
	return nil, nil
}

// resolve returns the chosen permissions, or fallback when neither field is set.
func (pc permissionChoice) resolve(fallback access.Permissions, code string) (access.Permissions, error) {
	p, err := pc.chosen(code)
	if err != nil || p == nil {
		return fallback, err
	}
	return *p, nil
}
