package rooms

import (
	"fmt"

	"lectern/access"
	"lectern/storage"
)

// MediaPolicy is what media a room takes from its publishers: the sources
// and whether a track may come in several simulcast layers. Members may be
// allowed more sources (their override, storage.Member.ExtraSources).
type MediaPolicy struct {
	Sources   access.Sources `json:"sources"`
	Simulcast bool           `json:"simulcast"`
}

// Media policy presets.
var (
	// TakeEverything is the policy of a room nobody set one for.
	TakeEverything = MediaPolicy{Sources: access.AllSources, Simulcast: true}
	// AudioOnly takes the microphone only ("an audio-only group call").
	AudioOnly = MediaPolicy{Sources: access.Microphone}
)

var mediaPresets = map[string]MediaPolicy{
	"everything": TakeEverything,
	"audio_only": AudioOnly,
}

// MediaPreset returns the policy of a named preset: everything or
// audio_only. Errors wrap ErrInvalidMedia.
func MediaPreset(name string) (MediaPolicy, error) {
	p, ok := mediaPresets[name]
	if !ok {
		return MediaPolicy{}, fmt.Errorf("%w: unknown preset %q (want everything or audio_only)", ErrInvalidMedia, name)
	}
	return p, nil
}

// Policy is r's media policy.
func Policy(r storage.Room) MediaPolicy {
	refused, err := access.ParseSources(r.RefusedSources)
	if err != nil {
		// Only this package writes the column; a value it cannot read
		// refuses everything rather than letting anything through.
		refused = access.AllSources
	}
	return MediaPolicy{Sources: access.AllSources &^ refused, Simulcast: !r.NoSimulcast}
}

// SetPolicy stores p in r (as what the room refuses).
func SetPolicy(r *storage.Room, p MediaPolicy) {
	r.RefusedSources = (access.AllSources &^ p.Sources).String()
	r.NoSimulcast = !p.Simulcast
}

// Takes is what a member with extra sources (its override) may send under p.
func (p MediaPolicy) Takes(extra access.Sources) access.Sources { return p.Sources | extra }

// AudioOnly reports whether p takes no video source.
func (p MediaPolicy) AudioOnly() bool { return p.Sources&(access.Camera|access.Screen) == 0 }
