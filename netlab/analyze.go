package netlab

import (
	"sort"
	"time"
)

// Result is what a scenario run measured.
type Result struct {
	Scenario Scenario
	// LabID names the run's namespaces (lectern-<LabID>-*).
	LabID string
	// Main is the key of the first publisher's camera at the viewer.
	Main string
	// Phases are the phases as they ran, with the server's metric deltas.
	Phases []PhaseRun
	// Results are the figures of each phase.
	Results []PhaseResult
	// Viewer and Publisher are every sample of the viewer and of the first publisher.
	Viewer, Publisher []Sample
	// Estimates are the server's estimates for the viewer, about one a second.
	Estimates []Estimate
	// Problems are errors and closes the viewer's session reported.
	Problems []string
	// ServerLog is the end of the server's log (warnings and errors).
	ServerLog string
}

// PhaseRun is a phase's wall-clock span and the server's lectern_sfu_*
// counter deltas over it.
type PhaseRun struct {
	Phase
	Start, End int64 // ms since the epoch
	Server     map[string]float64
	// LinkDrops are the packets the viewer's downlink qdisc (tbf) dropped;
	// RcvbufDrops those the viewer's kernel dropped because Chromium did not
	// read its socket in time.
	LinkDrops, RcvbufDrops int64
	// HostRcvbufDrops are the host's (the server's, the relay's and any
	// other process's there).
	HostRcvbufDrops int64
	// Load is the machine's one-minute load average (mean of the phase's
	// start and end): the lab shares the CPU with whatever else runs.
	Load float64
}

// PhaseResult is one phase's figures.
type PhaseResult struct {
	Phase Phase
	// Reached is how long after the phase began the main camera first
	// arrived at the phase's Fits layer (at or below it when the phase
	// stepped down, at or above it otherwise); -1 if it never did.
	Reached time.Duration
	// AtFits is the share of the phase's samples with the main camera at
	// exactly the Fits height; AtTop the share at 720p.
	AtFits, AtTop float64
	// Heights counts samples by the main camera's decoded frame height.
	Heights map[int]int
	// Stalls are the gaps of 500 ms or more without a new frame of any
	// received camera; LongestStall the longest.
	Stalls       int
	LongestStall time.Duration
	// Freezes and FreezeSeconds are Chromium's freezeCount and
	// totalFreezesDuration deltas, summed over the received cameras.
	Freezes       int64
	FreezeSeconds float64
	// Frames decoded of the main camera.
	Frames int64
	// ConcealedPct is the share of audio samples concealed; ConcealEvents
	// counts concealment events.
	ConcealedPct  float64
	ConcealEvents int64
	// RecvKbps is everything received (all tracks), over the phase after
	// its first 5 s; LossPct the packets lost over the same span.
	RecvKbps, LossPct float64
	// PubKbps and PubRtxPct are what the first publisher sent (all layers)
	// and the share of it that was retransmission; PubTopH the height of its
	// f layer at the phase's end (0: not sent) and PubLimit its
	// qualityLimitationReason; PubAvailKbps its outgoing estimate at the end.
	PubKbps, PubRtxPct float64
	PubTopH            int
	PubLimit           string
	PubAvailKbps       float64
	// EstLowKbps and EstKbps are the 10th percentile and the median of the
	// server's estimate for the viewer after the phase settled.
	EstLowKbps, EstKbps float64
	// KeyframeRequests, RetransmittedPackets are the server's counters.
	KeyframeRequests, RetransmittedPackets float64
	// LinkDrops, RcvbufDrops, HostRcvbufDrops and Load are PhaseRun's.
	LinkDrops, RcvbufDrops, HostRcvbufDrops int64
	Load                                    float64
}

// settle is how much of a phase's start RecvKbps and LossPct leave out.
const settle = 5 * time.Second

func analyze(r *Result, p PhaseRun) PhaseResult {
	out := PhaseResult{Phase: p.Phase, Reached: -1, Heights: map[int]int{}}
	out.KeyframeRequests = p.Server["lectern_sfu_keyframe_requests_total"]
	out.RetransmittedPackets = p.Server["lectern_sfu_retransmitted_packets_total"]
	out.LinkDrops, out.RcvbufDrops, out.HostRcvbufDrops, out.Load = p.LinkDrops, p.RcvbufDrops, p.HostRcvbufDrops, p.Load
	vs := within(r.Viewer, p.Start, p.End)
	if len(vs) < 2 {
		return out
	}
	prevH := 0
	if prev := within(r.Viewer, 0, p.Start); len(prev) > 0 {
		if in, ok := prev[len(prev)-1].inbound(r.Main); ok {
			prevH = in.H
		}
	}
	down := p.Fits < prevH
	atFits, atTop := 0, 0
	for _, s := range vs {
		in, _ := s.inbound(r.Main)
		out.Heights[in.H]++
		if in.H == p.Fits {
			atFits++
		}
		if in.H >= F {
			atTop++
		}
		hit := in.H >= p.Fits
		if down {
			hit = in.H > 0 && in.H <= p.Fits
		}
		if hit && out.Reached < 0 {
			out.Reached = time.Duration(s.T-p.Start) * time.Millisecond
		}
	}
	out.AtFits = float64(atFits) / float64(len(vs))
	out.AtTop = float64(atTop) / float64(len(vs))

	// Stalls: runs of samples in which a camera decoded nothing new.
	first, last := vs[0], vs[len(vs)-1]
	for _, in := range first.In {
		if in.Kind != "video" {
			continue
		}
		stallFrom := first.T
		prevFrames := in.Frames
		for _, s := range vs[1:] {
			cur, ok := s.inbound(in.Key)
			if !ok {
				continue
			}
			if cur.Frames > prevFrames {
				if gap := time.Duration(s.T-stallFrom) * time.Millisecond; gap >= 500*time.Millisecond+250*time.Millisecond {
					// Frames arrived in this sample after none for gap: the
					// picture stood still for about gap minus one interval.
					out.Stalls++
					out.LongestStall = max(out.LongestStall, gap-250*time.Millisecond)
				}
				stallFrom, prevFrames = s.T, cur.Frames
			}
		}
		if end, ok := last.inbound(in.Key); ok {
			out.Freezes += end.Freezes - in.Freezes
			out.FreezeSeconds += end.FreezeDur - in.FreezeDur
			if in.Key == r.Main {
				out.Frames = end.Frames - in.Frames
			}
			if gap := time.Duration(last.T-stallFrom) * time.Millisecond; gap >= 750*time.Millisecond {
				out.Stalls++
				out.LongestStall = max(out.LongestStall, gap)
			}
		}
	}
	var concealed, samples int64
	for _, in := range first.In {
		if in.Kind != "audio" {
			continue
		}
		if end, ok := last.inbound(in.Key); ok {
			concealed += end.Concealed - in.Concealed
			samples += end.Samples - in.Samples
			out.ConcealEvents += end.ConcealEvents - in.ConcealEvents
		}
	}
	if samples > 0 {
		out.ConcealedPct = 100 * float64(concealed) / float64(samples)
	}

	// Received rate and loss after the phase settled.
	settled := within(r.Viewer, p.Start+settle.Milliseconds(), p.End)
	if len(settled) >= 2 {
		a, b := settled[0], settled[len(settled)-1]
		var bytes, lost, recv int64
		for _, in := range a.In {
			if end, ok := b.inbound(in.Key); ok {
				bytes += end.Bytes - in.Bytes
				lost += end.Lost - in.Lost
				recv += end.Recv - in.Recv
			}
		}
		if secs := float64(b.T-a.T) / 1000; secs > 0 {
			out.RecvKbps = float64(bytes) * 8 / 1000 / secs
		}
		if recv+lost > 0 {
			out.LossPct = 100 * float64(max(lost, 0)) / float64(recv+max(lost, 0))
		}
	}

	var est []float64
	for _, e := range r.Estimates {
		if e.T >= p.Start+settle.Milliseconds() && e.T < p.End {
			est = append(est, float64(e.Bps)/1000)
		}
	}
	if len(est) > 0 {
		sort.Float64s(est)
		out.EstLowKbps, out.EstKbps = est[len(est)/10], est[len(est)/2]
	}

	ps := within(r.Publisher, p.Start, p.End)
	if len(ps) >= 2 {
		a, b := ps[0], ps[len(ps)-1]
		var bytes, rtx int64
		for _, o := range a.Out {
			for _, e := range b.Out {
				if e.Kind == o.Kind && e.Rid == o.Rid {
					bytes += e.Bytes - o.Bytes
					rtx += e.RtxBytes - o.RtxBytes
				}
			}
		}
		if secs := float64(b.T-a.T) / 1000; secs > 0 {
			out.PubKbps = float64(bytes) * 8 / 1000 / secs
		}
		if bytes > 0 {
			out.PubRtxPct = 100 * float64(rtx) / float64(bytes)
		}
		if f, ok := b.outbound("f"); ok {
			if fa, ok := a.outbound("f"); ok && f.Frames > fa.Frames {
				out.PubTopH = f.H
			}
			out.PubLimit = f.Qlr
		}
		out.PubAvailKbps = b.AvailOut / 1000
	}
	return out
}

// within returns the samples taken in [from, to) (ms since the epoch).
func within(s []Sample, from, to int64) []Sample {
	i := sort.Search(len(s), func(i int) bool { return s[i].T >= from })
	j := sort.Search(len(s), func(i int) bool { return s[i].T >= to })
	return s[i:j]
}
