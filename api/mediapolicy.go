package api

import (
	"net/http"

	"lectern/access"
	"lectern/rooms"
	"lectern/storage"
)

// A room's media policy and a member's extra sources (docs/api.md "Media
// policy"); the rules are package rooms', this file reads requests.

// mediaRequest sets a room's media policy: a preset or a list of sources,
// and whether simulcast is allowed. Fields left out keep their value.
type mediaRequest struct {
	Preset    *string   `json:"preset"`
	Sources   *[]string `json:"sources"`
	Simulcast *bool     `json:"simulcast"`
}

// apply validates req and writes the policy it makes into r.
func (req mediaRequest) apply(r *storage.Room, code string) error {
	p := rooms.Policy(*r)
	switch {
	case req.Preset != nil && req.Sources != nil:
		return errorf(http.StatusBadRequest, code, "media: give preset or sources, not both")
	case req.Preset != nil:
		preset, err := rooms.MediaPreset(*req.Preset)
		if err != nil {
			return errorf(http.StatusBadRequest, code, "media.preset: %q is not everything or audio_only", *req.Preset)
		}
		p = preset
	case req.Sources != nil:
		s, err := sourceList("media.sources", *req.Sources, code)
		if err != nil {
			return err
		}
		p.Sources = s
	}
	if req.Simulcast != nil {
		p.Simulcast = *req.Simulcast
	}
	rooms.SetPolicy(r, p)
	return nil
}

// sourceList validates a list of source names for field.
func sourceList(field string, names []string, code string) (access.Sources, error) {
	if names == nil {
		return 0, errorf(http.StatusBadRequest, code, "%s: must be a list (empty for none)", field)
	}
	var s access.Sources
	for _, name := range names {
		one, ok := access.SourceNamed(name)
		if !ok {
			return 0, errorf(http.StatusBadRequest, code, "%s: %q is not microphone, camera, screen or screen_audio", field, name)
		}
		s |= one
	}
	return s, nil
}
