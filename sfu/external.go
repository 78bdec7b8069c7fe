package sfu

import (
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// TrackSpec describes a track published from outside WebRTC, such as an RTSP
// encoder's: its packets are pushed with Track.Push.
type TrackSpec struct {
	Kind   webrtc.RTPCodecType
	Codec  webrtc.RTPCodecCapability
	Source string
	// NotWebRTC marks a codec WebRTC subscribers cannot take (AAC); it still
	// reaches other sinks (HLS, recordings, RTSP readers). Note says why.
	NotWebRTC bool
	Note      string
}

// PublishTrack publishes a pushed track into the participant's rooms.
func (p *Participant) PublishTrack(spec TrackSpec) (*Track, error) {
	if !p.Permissions().Has(access.Publish) {
		return nil, ErrNoPublish
	}
	if err := CheckSource(spec.Source, p.room.options(), p.extra); err != nil {
		return nil, err
	}
	codec := webrtc.RTPCodecParameters{RTPCodecCapability: spec.Codec}
	t := newTrack(newID("TR_"), p, spec.Kind, codec, spec.Source, nil)
	t.webrtc, t.note = !spec.NotWebRTC, spec.Note
	if strings.EqualFold(spec.Codec.MimeType, webrtc.MimeTypeH264) {
		t.repack = &h264Repacketizer{}
	}
	t.mu.Lock()
	t.insertLayer(&layer{})
	t.mu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.published[t.id] = t
	targets := make([]*Room, 0, len(p.targets))
	for r := range p.targets {
		targets = append(targets, r)
	}
	p.mu.Unlock()
	p.log.Info("track published", "track", t.id, "kind", spec.Kind.String(), "codec", spec.Codec.MimeType, "source", spec.Source, "webrtc", t.webrtc)
	for _, r := range targets {
		r.addTrack(t)
	}
	return t, nil
}

// Push forwards one packet of a track published with PublishTrack. It runs on
// the caller's goroutine and never blocks on a subscriber; one goroutine at a
// time may push a track's packets. H.264 is re-packetized on the way so that
// subscribers get packets of at most about 1,200 bytes, numbered afresh.
func (t *Track) Push(pkt *rtp.Packet) {
	l := t.layerAt(0)
	if l == nil {
		return
	}
	l.bytes.Add(uint64(len(pkt.Payload) + 12))
	if t.repack != nil {
		t.repack.push(pkt, func(p *rtp.Packet) { t.forward(p, l) })
		return
	}
	t.forward(pkt, l)
}

// WebRTC reports whether WebRTC subscribers can receive the track.
func (t *Track) WebRTC() bool { return t.webrtc }
