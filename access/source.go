package access

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Sources is a set of media sources: what a participant sends (its
// microphone, camera, screen and the screen's audio). A room's media policy
// and a member's override are Sources. The zero value is no source.
type Sources uint8

// The four sources of a track (sfu track sources and docs/protocol.md).
const (
	Microphone Sources = 1 << iota
	Camera
	Screen
	ScreenAudio
)

// AllSources is every source: what a room takes when nobody said otherwise.
const AllSources = Microphone | Camera | Screen | ScreenAudio

// sourceNames lists every source in canonical order.
var sourceNames = [...]struct {
	s    Sources
	name string
}{
	{Microphone, "microphone"},
	{Camera, "camera"},
	{Screen, "screen"},
	{ScreenAudio, "screen_audio"},
}

// SourceNamed returns the source of a track source name (camera, microphone,
// screen or screen_audio), or false.
func SourceNamed(name string) (Sources, bool) {
	for _, n := range sourceNames {
		if n.name == name {
			return n.s, true
		}
	}
	return 0, false
}

// Has reports whether every source in q is in s.
func (s Sources) Has(q Sources) bool { return s&q == q }

// Names lists the sources of s in canonical order; never nil.
func (s Sources) Names() []string {
	out := []string{}
	for _, n := range sourceNames {
		if s.Has(n.s) {
			out = append(out, n.name)
		}
	}
	return out
}

// String is the canonical comma-separated form, such as "microphone,camera";
// "" for none.
func (s Sources) String() string { return strings.Join(s.Names(), ",") }

// ParseSources parses the comma-separated form written by String; "" is none.
func ParseSources(text string) (Sources, error) {
	if text == "" {
		return 0, nil
	}
	return sourcesOf(strings.Split(text, ","))
}

func sourcesOf(names []string) (Sources, error) {
	var out Sources
	for _, name := range names {
		s, ok := SourceNamed(name)
		if !ok {
			return 0, fmt.Errorf("%w: %q (want microphone, camera, screen or screen_audio)", ErrInvalidSource, name)
		}
		out |= s
	}
	return out, nil
}

// MarshalJSON writes the set as an array of names.
func (s Sources) MarshalJSON() ([]byte, error) { return json.Marshal(s.Names()) }

// UnmarshalJSON reads an array of names; an unknown name is an error.
func (s *Sources) UnmarshalJSON(data []byte) error {
	var list []string
	if err := json.Unmarshal(data, &list); err != nil || list == nil {
		return fmt.Errorf("%w: want an array of source names", ErrInvalidSource)
	}
	out, err := sourcesOf(list)
	if err != nil {
		return err
	}
	*s = out
	return nil
}
