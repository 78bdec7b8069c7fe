package sfu

import (
	"fmt"
	"maps"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// Publish answers the client's offer on the publisher peer connection. sources
// maps the offer's track IDs (the msid track part) to camera, microphone,
// screen or screen_audio; unnamed audio is the microphone and video the camera.
// A later offer on the same connection adds or removes tracks.
func (p *Participant) Publish(offer string, sources map[string]string) (string, error) {
	if !p.Permissions().Has(access.Publish) {
		return "", ErrNoPublish
	}
	for id, s := range sources {
		if !ValidSource(s) {
			return "", fmt.Errorf("%w: %q for track %q", ErrBadSource, s, id)
		}
	}
	opts := p.room.options()
	if err := checkOffer(offer, opts.Broadcast); err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", ErrClosed
	}
	named := maps.Clone(p.sources)
	maps.Copy(named, sources)
	if err := checkPolicy(offer, named, opts, p.extra); err != nil {
		return "", err
	}
	p.sources = named
	if p.pub == nil {
		pc, err := p.room.sfu.api(opts.Broadcast, true).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
		}
		pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.onTrack(remote) })
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateFailed {
				go p.Close("publisher connection failed")
			}
		})
		p.pub = pc
	}
	answer, err := answerWithCandidates(p.pub, retagBundle(offer, opts.Broadcast))
	if err != nil {
		return "", err
	}
	return capBitrate(placeCandidates(offer, answer), p.bitrate(opts)), nil
}

// bitrate is the video bitrate the publisher is asked to stay under.
func (p *Participant) bitrate(o RoomOptions) int {
	t := o.Tier
	if p.tier != "" && (t == "" || p.tier.Rank() < t.Rank()) {
		t = p.tier
	}
	return t.Bitrate()
}

// answerWithCandidates applies a remote offer and returns the local answer once
// ICE gathering is complete, so no server candidates need to trickle (with
// the UDP mux gathering takes a few milliseconds).
func answerWithCandidates(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
	}
	<-gathered
	return pc.LocalDescription().SDP, nil
}

// onTrack runs on pion's goroutine when a publisher's track (or one simulcast
// layer of it) starts. It must not block: it registers the layer and returns.
func (p *Participant) onTrack(remote *webrtc.TrackRemote) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	t, ok := p.published[remote.ID()]
	if ok {
		p.mu.Unlock()
		t.addLayer(remote)
		return
	}
	source := p.sources[remote.ID()]
	if source == "" {
		source = SourceCamera
		if remote.Kind() == webrtc.RTPCodecTypeAudio {
			source = SourceMicrophone
		}
	}
	t = newTrack(newID("TR_"), p, remote.Kind(), remote.Codec(), source, pliFor(p.pub))
	t.nack = nackFor(p.pub)
	p.published[remote.ID()] = t
	targets := make([]*Room, 0, len(p.targets))
	for r := range p.targets {
		targets = append(targets, r)
	}
	p.mu.Unlock()
	msid := remote.ID()
	t.onEnd = func() { p.trackEnded(msid, t) }
	t.addLayer(remote)
	p.log.Info("track published", "track", t.id, "kind", remote.Kind().String(), "codec", remote.Codec().MimeType, "source", source, "rid", remote.RID())
	for _, r := range targets {
		r.addTrack(t)
	}
}

// trackEnded unpublishes a track whose every layer stopped.
func (p *Participant) trackEnded(msid string, t *Track) {
	p.mu.Lock()
	if p.published[msid] != t {
		p.mu.Unlock()
		return
	}
	delete(p.published, msid)
	t.end()
	targets := make([]*Room, 0, len(p.targets))
	for r := range p.targets {
		targets = append(targets, r)
	}
	p.mu.Unlock()
	for _, r := range targets {
		r.removeTrack(t)
	}
	p.log.Info("track unpublished", "track", t.id)
}

// checkOffer refuses offers that are not SDP or that carry no codec the room
// accepts, before pion sees them. A refusal for codecs is a *CodecError naming
// what the room takes, video first.
func checkOffer(offer string, broadcast bool) error {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return fmt.Errorf("%w: no media sections", ErrBadSDP)
	}
	refused, accepted := refusedKinds(&sd, broadcast, false)
	switch {
	case accepted:
		return nil
	case len(refused) > 0:
		return refused[0]
	}
	return fmt.Errorf("%w: the offer has no active audio or video section", ErrUnsupportedCodecs)
}

// offersCodec reports whether a media section lists a codec the room takes.
func offersCodec(md *sdp.MediaDescription, broadcast bool) bool {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		_, enc, _ := strings.Cut(a.Value, " ")
		name, _, _ := strings.Cut(enc, "/")
		if acceptedCodec(name, broadcast) {
			return true
		}
	}
	return false
}

func acceptedCodec(name string, broadcast bool) bool {
	switch strings.ToUpper(name) {
	case "H264", "OPUS":
		return true
	case "VP8", "VP9", "AV1":
		return !broadcast
	}
	return false
}

// capBitrate adds b=AS and b=TIAS lines (RFC 3890) to the video sections of an
// answer so that browsers keep their encoders under the tier's bitrate.
func capBitrate(answer string, bps int) string {
	if bps <= 0 {
		return answer
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer); err != nil {
		return answer
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "video" {
			md.Bandwidth = append(md.Bandwidth,
				sdp.Bandwidth{Type: "AS", Bandwidth: uint64(bps / 1000)},
				sdp.Bandwidth{Type: "TIAS", Bandwidth: uint64(bps)})
		}
	}
	out, err := sd.Marshal()
	if err != nil {
		return answer
	}
	return string(out)
}
