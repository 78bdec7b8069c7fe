package sfu

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// CodecError is an ErrUnsupportedCodecs that says, for one kind of media,
// which codecs the room takes and which the client offered, so that a person
// can be told what to change.
type CodecError struct {
	// Kind is "video" or "audio".
	Kind string
	// Receive is set when the client would receive the media (a viewer or a
	// subscriber) rather than send it.
	Receive bool
	// Room lists the codecs the room takes (or sends) for Kind.
	Room []string
	// Offered lists the codecs of Kind the client offered; empty when unknown.
	Offered []string
}

func (e *CodecError) Error() string { return "sfu: " + e.Reason() }

// Unwrap makes a CodecError match ErrUnsupportedCodecs.
func (e *CodecError) Unwrap() error { return ErrUnsupportedCodecs }

// Reason is the sentence for people, as in "this room takes H.264 video; your
// client offered VP8, VP9".
func (e *CodecError) Reason() string {
	room := joinOr(e.Room)
	switch {
	case e.Receive && len(e.Offered) == 0:
		return "this room sends " + room + " " + e.Kind + " and your client cannot receive it"
	case e.Receive:
		return "this room sends " + room + " " + e.Kind + "; your client can receive only " + strings.Join(e.Offered, ", ")
	case len(e.Offered) == 0:
		return "this room takes " + room + " " + e.Kind + "; your client offered no " + e.Kind + " codec"
	}
	return "this room takes " + room + " " + e.Kind + "; your client offered " + strings.Join(e.Offered, ", ")
}

// joinOr lists names as "a, b or c".
func joinOr(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// roomCodecs are the display names of the codecs a room takes for kind.
func roomCodecs(kind string, broadcast bool) []string {
	switch {
	case kind == "audio":
		return []string{"Opus"}
	case broadcast:
		return []string{"H.264"}
	}
	return []string{"VP8", "VP9", "H.264", "AV1"}
}

// codecName is how people know an rtpmap encoding name; "" for what is not a
// media codec (retransmission, FEC, comfort noise, DTMF).
func codecName(enc string) string {
	switch n := strings.ToUpper(enc); n {
	case "RTX", "RED", "ULPFEC", "FLEXFEC", "FLEXFEC-03", "CN", "TELEPHONE-EVENT":
		return ""
	case "H264":
		return "H.264"
	case "H265":
		return "H.265"
	case "OPUS":
		return "Opus"
	default:
		return n
	}
}

// sectionCodecs lists the media codecs a section offers, once each, in order.
func sectionCodecs(md *sdp.MediaDescription, into []string) []string {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		_, enc, _ := strings.Cut(a.Value, " ")
		name, _, _ := strings.Cut(enc, "/")
		if n := codecName(name); n != "" && !contains(into, n) {
			into = append(into, n)
		}
	}
	return into
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// refusedKinds returns, video first, a CodecError for each kind of media the
// offer has active sections of (port not 0, RFC 3264 section 8.2) but none of
// whose codecs the room takes; the answer rejects those sections. accepted
// reports whether any section has a codec the room takes. With receive set
// only sections the server may send into (recvonly or sendrecv) count.
func refusedKinds(sd *sdp.SessionDescription, broadcast, receive bool) (refused []*CodecError, accepted bool) {
	session := direction(sd.Attributes, "sendrecv")
	offered := map[string][]string{}
	took := map[string]bool{}
	for _, md := range sd.MediaDescriptions {
		kind := md.MediaName.Media
		if md.MediaName.Port.Value == 0 || (kind != "video" && kind != "audio") {
			continue
		}
		if dir := direction(md.Attributes, session); receive && dir != "recvonly" && dir != "sendrecv" {
			continue
		}
		if offersCodec(md, broadcast) {
			took[kind], accepted = true, true
			continue
		}
		offered[kind] = sectionCodecs(md, offered[kind])
		if offered[kind] == nil {
			offered[kind] = []string{}
		}
	}
	for _, kind := range []string{"video", "audio"} {
		if list, ok := offered[kind]; ok && !took[kind] {
			refused = append(refused, &CodecError{Kind: kind, Receive: receive, Room: roomCodecs(kind, broadcast), Offered: list})
		}
	}
	return refused, accepted
}

// Refused returns a *CodecError when the room will reject the offer's video
// (or else audio) sections for their codecs while it accepts others: the
// answer then carries only what was accepted, and the client should be told
// why. It returns nil for an offer that is fully accepted, or that CheckOffer
// (receive false) or CheckViewOffer (receive true) refuses as a whole.
func Refused(offer string, o RoomOptions, receive bool) error {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return nil
	}
	refused, accepted := refusedKinds(&sd, o.Broadcast, receive)
	if len(refused) == 0 || !accepted {
		return nil
	}
	return refused[0]
}

// retagBundle moves to the front of the offer's BUNDLE group the first
// section the room will accept, when the offerer's tagged section (the
// group's first) will be rejected for its codecs. pion takes the client's ICE
// candidates from the offer's tagged section, but the transport that stays is
// the answer's tagged one (RFC 8843 section 7.3.1): a browser that gathers per
// section (Firefox, bundlePolicy "balanced") would otherwise be checked on
// the ports of the section it closes. The offer is returned unchanged when
// it needs nothing or cannot be parsed.
func retagBundle(offer string, broadcast bool) string {
	var sd sdp.SessionDescription
	if sd.UnmarshalString(offer) != nil {
		return offer
	}
	group := -1
	var mids []string
	for i, a := range sd.Attributes {
		if fields := strings.Fields(a.Value); a.Key == sdp.AttrKeyGroup && len(fields) > 1 && fields[0] == "BUNDLE" {
			group, mids = i, fields[1:]
			break
		}
	}
	if group < 0 {
		return offer
	}
	accepted := map[string]bool{}
	for _, md := range sd.MediaDescriptions {
		if mid, ok := md.Attribute(sdp.AttrKeyMID); ok && md.MediaName.Port.Value != 0 && offersCodec(md, broadcast) {
			accepted[mid] = true
		}
	}
	if accepted[mids[0]] {
		return offer
	}
	for i, mid := range mids {
		if accepted[mid] {
			mids = append(append([]string{mid}, mids[:i]...), mids[i+1:]...)
			sd.Attributes[group].Value = "BUNDLE " + strings.Join(mids, " ")
			out, err := sd.Marshal()
			if err != nil {
				return offer
			}
			return string(out)
		}
	}
	return offer
}

// placeCandidates repairs an answer in which pion rejected a media section
// (port 0): pion writes every candidate into the answer's first section even
// when that one is rejected, and a rejected section has no a=mid. Candidates
// belong in the answerer's BUNDLE-tag section, the first of the answer's BUNDLE
// group (RFC 8843 section 7.3.1), or the first accepted section without
// BUNDLE. A rejected section also gets the offer's mid back, since browsers
// match an answer's sections to their offer's by mid. The answer is returned
// unchanged when it needs nothing or cannot be parsed.
func placeCandidates(offer, answer string) string {
	var ans, off sdp.SessionDescription
	if ans.UnmarshalString(answer) != nil || off.UnmarshalString(offer) != nil {
		return answer
	}
	tag := ""
	if g, ok := ans.Attribute(sdp.AttrKeyGroup); ok {
		if fields := strings.Fields(g); len(fields) > 1 && fields[0] == "BUNDLE" {
			tag = fields[1]
		}
	}
	var master, first *sdp.MediaDescription
	var moved []sdp.Attribute
	changed := false
	for i, md := range ans.MediaDescriptions {
		mid, hasMid := md.Attribute(sdp.AttrKeyMID)
		if md.MediaName.Port.Value != 0 {
			if first == nil {
				first = md
			}
			if master == nil && mid == tag {
				master = md
			}
			continue
		}
		kept := md.Attributes[:0]
		for _, a := range md.Attributes {
			if a.Key == "candidate" || a.Key == "end-of-candidates" {
				moved = append(moved, a)
				continue
			}
			kept = append(kept, a)
		}
		md.Attributes = kept
		if !hasMid && i < len(off.MediaDescriptions) {
			if m, ok := off.MediaDescriptions[i].Attribute(sdp.AttrKeyMID); ok {
				md.Attributes = append(md.Attributes, sdp.NewAttribute(sdp.AttrKeyMID, m))
				changed = true
			}
		}
	}
	if master == nil {
		master = first
	}
	if master == nil || (len(moved) == 0 && !changed) {
		return answer
	}
	for _, a := range moved {
		if !hasAttribute(master, a) {
			master.Attributes = append(master.Attributes, a)
		}
	}
	out, err := ans.Marshal()
	if err != nil {
		return answer
	}
	return string(out)
}

func hasAttribute(md *sdp.MediaDescription, a sdp.Attribute) bool {
	for _, b := range md.Attributes {
		if b.Key == a.Key && b.Value == a.Value {
			return true
		}
	}
	return false
}

// refusedInAnswer returns a *CodecError when the client's answer rejects
// (port 0) a section in which the server sends media, so that the subscriber
// is told rather than left with a black tile, and whether the answer rejects
// every section. sending maps the mids of the sections that carry a track to
// its kind and codec; the answer's sections are the offer's, in order.
func refusedInAnswer(answer string, offerMids []string, sending map[string]codecOf) (refused error, none bool) {
	var sd sdp.SessionDescription
	if sd.UnmarshalString(answer) != nil {
		return nil, false
	}
	none = true
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Port.Value != 0 {
			none = false
			continue
		}
		mid, ok := md.Attribute(sdp.AttrKeyMID)
		if !ok && i < len(offerMids) {
			mid = offerMids[i]
		}
		if c, ok := sending[mid]; ok && refused == nil {
			refused = &CodecError{Kind: c.kind, Receive: true, Room: []string{c.name}}
		}
	}
	return refused, none
}

// codecOf is the kind and codec display name of a track a section carries.
type codecOf struct{ kind, name string }

// mimeCodecName turns "video/H264" into "H.264".
func mimeCodecName(mime string) string {
	_, enc, _ := strings.Cut(mime, "/")
	return codecName(enc)
}

// sdpMids lists the mids of a description's sections in order ("" where a
// section has none, then its index).
func sdpMids(desc string) []string {
	var sd sdp.SessionDescription
	if sd.UnmarshalString(desc) != nil {
		return nil
	}
	mids := make([]string, len(sd.MediaDescriptions))
	for i, md := range sd.MediaDescriptions {
		if m, ok := md.Attribute(sdp.AttrKeyMID); ok {
			mids[i] = m
		} else {
			mids[i] = strconv.Itoa(i)
		}
	}
	return mids
}
