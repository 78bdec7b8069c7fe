package sfu

// Downlink is how a subscriber's connection fares, for operators (the REST
// API's participants): a viewer on a poor link shows here before it
// complains.
type Downlink struct {
	// EstimateBps is the server's send-side bandwidth estimate for the
	// connection, in bits per second; 0 before the first feedback.
	EstimateBps int64 `json:"estimate_bps"`
	// Feedback is the congestion feedback the client sends: "twcc", "remb",
	// or "none" (yet).
	Feedback string `json:"feedback"`
	// Videos is the number of videos the connection carries; PausedVideos
	// how many of them are paused because the estimate cannot carry them.
	Videos       int `json:"videos"`
	PausedVideos int `json:"paused_videos"`
}

// downlink reports p's subscriber connection; false when it has none.
func (p *Participant) downlink() (Downlink, bool) {
	est := p.est.Load()
	if est == nil {
		return Downlink{}, false
	}
	d := Downlink{EstimateBps: est.last.Load(), Feedback: "none"}
	switch {
	case est.twccSeen.Load():
		d.Feedback = "twcc"
	case est.remb.Load() > 0:
		d.Feedback = "remb"
	}
	p.mu.Lock()
	for _, dt := range p.downs {
		if dt.track.keyframe == nil {
			continue
		}
		d.Videos++
		if dt.bwPaused.Load() {
			d.PausedVideos++
		}
	}
	p.mu.Unlock()
	return d, true
}

// Downlinks returns the downlink of each participant in the room with a
// subscriber connection, by participant ID.
func (r *Room) Downlinks() map[string]Downlink {
	out := map[string]Downlink{}
	for _, p := range r.Participants() {
		if d, ok := p.downlink(); ok {
			out[p.id] = d
		}
	}
	return out
}
