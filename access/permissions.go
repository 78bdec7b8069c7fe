// Package access defines who may do what in a Lectern room: permissions, their
// presets, resolution tiers, and the signed access tokens that carry them.
package access

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Permissions is a set of room permissions. The zero value allows nothing.
type Permissions uint8

// The six permissions of DESIGN.md ("Concepts").
const (
	// Publish allows sending media into the room (WebRTC, WHIP, RTSP record).
	Publish Permissions = 1 << iota
	// Subscribe allows receiving other members' media (WebRTC, WHEP, HLS, RTSP play).
	Subscribe
	// List allows seeing the live participant list and its changes.
	List
	// Send allows posting chat messages.
	Send
	// Receive allows receiving chat messages and history.
	Receive
	// Moderate allows muting or removing others, changing permissions and
	// controlling the broadcast.
	Moderate
)

// Presets for the two room modes.
const (
	// Member is a conference participant: everyone publishes and watches.
	Member = Publish | Subscribe | List | Send | Receive
	// Speaker is a webinar presenter.
	Speaker = Member
	// Host is a speaker who also moderates.
	Host = Speaker | Moderate
	// Viewer is a webinar audience member: watch and read chat.
	Viewer = Subscribe | Receive
)

// names lists every permission in canonical order.
var names = [...]struct {
	p    Permissions
	name string
}{
	{Publish, "publish"},
	{Subscribe, "subscribe"},
	{List, "list"},
	{Send, "send"},
	{Receive, "receive"},
	{Moderate, "moderate"},
}

var presets = map[string]Permissions{
	"member":  Member,
	"speaker": Speaker,
	"host":    Host,
	"viewer":  Viewer,
}

// Preset returns the permissions of a named preset: member, speaker, host or viewer.
func Preset(name string) (Permissions, error) {
	p, ok := presets[name]
	if !ok {
		return 0, fmt.Errorf("%w: unknown preset %q (want member, speaker, host or viewer)", ErrInvalidPermissions, name)
	}
	return p, nil
}

// Has reports whether every permission in q is in p.
func (p Permissions) Has(q Permissions) bool { return p&q == q }

// String returns the canonical comma-separated form, for example "publish,subscribe".
func (p Permissions) String() string {
	var b strings.Builder
	for _, n := range names {
		if p.Has(n.p) {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n.name)
		}
	}
	return b.String()
}

// ParsePermissions parses the canonical comma-separated form written by String.
func ParsePermissions(s string) (Permissions, error) {
	var p Permissions
	if s == "" {
		return 0, nil
	}
	for _, f := range strings.Split(s, ",") {
		q, err := parseOne(f)
		if err != nil {
			return 0, err
		}
		p |= q
	}
	return p, nil
}

func parseOne(name string) (Permissions, error) {
	for _, n := range names {
		if n.name == name {
			return n.p, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown permission %q", ErrInvalidPermissions, name)
}

// MarshalJSON writes the set as an object with all six permissions as booleans,
// so that clients never have to guess what a missing key means.
func (p Permissions) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%t", n.name, p.Has(n.p))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads either an object of booleans ({"publish": true}) or an
// array of names (["publish"]). Unknown names are errors.
func (p *Permissions) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	var out Permissions
	switch {
	case bytes.HasPrefix(data, []byte("[")):
		var list []string
		if err := json.Unmarshal(data, &list); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidPermissions, err)
		}
		for _, name := range list {
			q, err := parseOne(name)
			if err != nil {
				return err
			}
			out |= q
		}
	case bytes.HasPrefix(data, []byte("{")):
		var obj map[string]bool
		if err := json.Unmarshal(data, &obj); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidPermissions, err)
		}
		for name, on := range obj {
			q, err := parseOne(name)
			if err != nil {
				return err
			}
			if on {
				out |= q
			}
		}
	default:
		return fmt.Errorf("%w: want an object of booleans or an array of names", ErrInvalidPermissions)
	}
	*p = out
	return nil
}
