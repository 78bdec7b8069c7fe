package netlab

// Sample is one getStats reading of a page (client.js takes one every 250
// ms): the received tracks, the published layers and the publisher
// connection's outgoing estimate.
type Sample struct {
	// T is the page's clock, in milliseconds since the epoch.
	T int64
	// In holds the inbound-rtp stats, one per received track.
	In []Inbound
	// Out holds the outbound-rtp stats, one per published layer.
	Out []Outbound
	// AvailOut is the publisher connection's availableOutgoingBitrate (bit/s).
	AvailOut float64
}

// Estimate is the server's bandwidth estimate for the viewer's connection
// (the REST API's downlink) at T, ms since the epoch.
type Estimate struct {
	T   int64
	Bps int64
}

// Inbound is a received track's inbound-rtp counters.
type Inbound struct {
	// Key is participant/source (PA_x/camera).
	Key, Kind string
	// W and H are the last decoded frame's size.
	W, H               int
	Frames, Dropped    int64
	Freezes            int64
	FreezeDur          float64 // seconds
	Bytes, Recv, Lost  int64
	Nacks              int64
	Concealed, Samples int64 // audio samples
	ConcealEvents      int64
}

// Outbound is a published layer's outbound-rtp counters.
type Outbound struct {
	Rid, Kind       string
	W, H            int
	Frames          int64
	Bytes, RtxBytes int64
	Qlr             string // qualityLimitationReason
	Active          bool
	Nacks, Plis     int64
}

// inbound returns the sample's stats of the track with key, if any.
func (s Sample) inbound(key string) (Inbound, bool) {
	for _, in := range s.In {
		if in.Key == key {
			return in, true
		}
	}
	return Inbound{}, false
}

// outbound returns the stats of the video layer rid, if any.
func (s Sample) outbound(rid string) (Outbound, bool) {
	for _, o := range s.Out {
		if o.Kind == "video" && o.Rid == rid {
			return o, true
		}
	}
	return Outbound{}, false
}
