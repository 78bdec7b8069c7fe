package sfu

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"

	"lectern/access"
)

// PolicyError is a refusal for the room's media policy (RoomOptions.Refused
// and NoSimulcast): the source it does not take, or simulcast.
type PolicyError struct {
	// Source is the refused source; "" when Simulcast is refused.
	Source    string
	Simulcast bool
	// Takes is what the publisher may send in the room.
	Takes access.Sources
}

func (e *PolicyError) Error() string { return "sfu: " + e.Reason() }

// Unwrap makes a PolicyError match ErrRefusedByPolicy.
func (e *PolicyError) Unwrap() error { return ErrRefusedByPolicy }

// Reason is the sentence for people, as in "this room does not take camera;
// it takes microphone".
func (e *PolicyError) Reason() string {
	if e.Simulcast {
		return "this room does not take simulcast; send one layer per track"
	}
	takes := "nothing"
	if e.Takes != 0 {
		takes = strings.Join(e.Takes.Names(), ", ")
	}
	return "this room does not take " + e.Source + "; it takes " + takes
}

// takes is what a publisher with extra sources (its member override) may
// send in a room of options o.
func takes(o RoomOptions, extra access.Sources) access.Sources {
	return access.AllSources&^o.Refused | extra
}

// CheckSource refuses a source (camera, microphone, screen or screen_audio)
// that a publisher with extra sources may not send in a room of options o,
// with a *PolicyError; an encoder's media are checked this way.
func CheckSource(source string, o RoomOptions, extra access.Sources) error {
	s, ok := access.SourceNamed(source)
	if !ok {
		return fmt.Errorf("%w: %q", ErrBadSource, source)
	}
	if t := takes(o, extra); !t.Has(s) {
		return &PolicyError{Source: source, Takes: t}
	}
	return nil
}

// checkPolicy refuses an offer that sends what the room does not take: a
// sending section whose track's source (named in sources by the msid track
// ID; unnamed audio is the microphone and video the camera) the publisher
// may not send, or several simulcast layers (RFC 8853) in a room without
// simulcast. A source named for the other kind is ErrBadSource, so a camera
// cannot pass as a microphone.
func checkPolicy(offer string, sources map[string]string, o RoomOptions, extra access.Sources) error {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	session := direction(sd.Attributes, "sendrecv")
	for _, md := range sd.MediaDescriptions {
		kind := md.MediaName.Media
		dir := direction(md.Attributes, session)
		if md.MediaName.Port.Value == 0 || (dir != "sendonly" && dir != "sendrecv") || (kind != "video" && kind != "audio") {
			continue
		}
		track := msidTrack(md)
		source := sources[track]
		if source == "" {
			source = defaultSource(kind)
		}
		if sourceKind(source) != kind {
			return fmt.Errorf("%w: track %q is %s but named %s", ErrBadSource, track, kind, source)
		}
		if err := CheckSource(source, o, extra); err != nil {
			return err
		}
		if o.NoSimulcast && simulcast(md) {
			return &PolicyError{Simulcast: true, Takes: takes(o, extra)}
		}
	}
	return nil
}

// msidTrack is the track part of a section's msid (RFC 8830 section 2),
// which pion gives as the remote track's ID; "" if it has none.
func msidTrack(md *sdp.MediaDescription) string {
	if v, ok := md.Attribute("msid"); ok {
		if f := strings.Fields(v); len(f) == 2 {
			return f[1]
		}
	}
	for _, a := range md.Attributes {
		// The older form, "a=ssrc:<ssrc> msid:<stream> <track>".
		if _, rest, ok := strings.Cut(a.Value, " msid:"); a.Key == "ssrc" && ok {
			if f := strings.Fields(rest); len(f) == 2 {
				return f[1]
			}
		}
	}
	return ""
}

// simulcast reports whether a section sends more than one RTP stream
// (RFC 8853 "a=simulcast", RFC 8851 "a=rid").
func simulcast(md *sdp.MediaDescription) bool {
	rids := 0
	for _, a := range md.Attributes {
		if f := strings.Fields(a.Value); a.Key == "rid" && len(f) >= 2 && f[1] == "send" {
			rids++
		}
	}
	return rids > 1
}

func defaultSource(kind string) string {
	if kind == "audio" {
		return SourceMicrophone
	}
	return SourceCamera
}

func sourceKind(source string) string {
	switch source {
	case SourceMicrophone, SourceScreenAudio:
		return "audio"
	case SourceCamera, SourceScreen:
		return "video"
	}
	return ""
}
