package sfu

import "github.com/pion/webrtc/v4"

// Accessors for server-side consumers that build a broadcast from a room's
// tracks (the hls package): the negotiated audio-level extension and per-layer
// keyframe requests.

// AudioLevelID returns the RTP header extension ID that the track's publisher
// negotiated for the audio level (RFC 6464), or 0 when there is none (pushed
// tracks, video, or a publisher that did not offer it). Packets handed to sinks
// keep their header extensions, so a sink can read the level with this ID.
func (t *Track) AudioLevelID() uint8 {
	p := t.owner
	p.mu.Lock()
	pc := p.pub
	p.mu.Unlock()
	if pc == nil {
		return 0
	}
	t.mu.Lock()
	remotes := make(map[*webrtc.TrackRemote]bool, len(t.layers))
	for _, l := range t.layers {
		if l.remote != nil {
			remotes[l.remote] = true
		}
	}
	t.mu.Unlock()
	for _, tr := range pc.GetTransceivers() {
		r := tr.Receiver()
		if r == nil {
			continue
		}
		mine := false
		for _, remote := range r.Tracks() {
			if remotes[remote] {
				mine = true
			}
		}
		if !mine {
			continue
		}
		for _, ext := range r.GetParameters().HeaderExtensions {
			if ext.URI == audioLevelURI {
				return uint8(ext.ID)
			}
		}
	}
	return 0
}
