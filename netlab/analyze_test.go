package netlab

import (
	"strings"
	"testing"
	"time"
)

// samples builds a viewer timeline of the main camera every 250 ms from t0:
// heights[i] is the frame height at sample i, frames[i] the frames decoded.
func samples(t0 int64, heights []int, frames []int64, bytesPerSample int64) []Sample {
	var out []Sample
	for i := range heights {
		out = append(out, Sample{T: t0 + int64(i)*250, In: []Inbound{
			{Key: "PA_1/camera", Kind: "video", H: heights[i], Frames: frames[i], Bytes: int64(i) * bytesPerSample, Recv: int64(i) * 10},
		}})
	}
	return out
}

// TestAnalyzeStepDown checks the figures of a phase that stepped down: when
// the main camera reached the layer that fits, the share of time there, a
// stall, and the received rate.
func TestAnalyzeStepDown(t *testing.T) {
	const t0 = 1_000_000
	// 4 samples at 720p before the phase, then 40 in it: 720p for 1 s, then
	// 180p; frames stop for 1 s in the middle.
	var heights []int
	var frames []int64
	for i := range 44 {
		h := F
		if i >= 8 {
			h = Q
		}
		heights = append(heights, h)
		f := int64(i) * 7
		if i >= 12 && i < 16 {
			f = 11 * 7
		}
		frames = append(frames, f)
	}
	r := &Result{Main: "PA_1/camera", Viewer: samples(t0, heights, frames, 12_500)}
	// The server's estimate once a second: 3 Mbit/s before the phase, then
	// falling from 1,000 kbit/s by 50 a second; only those after the phase
	// settled (5 s) count.
	for i := range 12 {
		bps := int64(3_000_000)
		if i > 0 {
			bps = int64(1_000_000 - 50_000*(i-1))
		}
		r.Estimates = append(r.Estimates, Estimate{T: t0 + 500 + int64(i)*1000, Bps: bps})
	}
	p := PhaseRun{Phase: Phase{Name: "400k", Fits: Q}, Start: t0 + 1000, End: t0 + 11000}
	got := analyze(r, p)
	// Settled from t0+6000: the estimates at t0+6500 .. t0+10500 are 750 .. 550.
	if got.EstLowKbps != 550 || got.EstKbps != 650 {
		t.Errorf("estimate p10 %v, p50 %v kbit/s; want 550 and 650", got.EstLowKbps, got.EstKbps)
	}
	if got.Reached != time.Second {
		t.Errorf("Reached %v, want 1s", got.Reached)
	}
	if got.AtFits != 0.9 || got.AtTop != 0.1 {
		t.Errorf("AtFits %v AtTop %v, want 0.9 and 0.1", got.AtFits, got.AtTop)
	}
	if got.Stalls != 1 || got.LongestStall != time.Second {
		t.Errorf("%d stalls, longest %v; want 1 of 1s", got.Stalls, got.LongestStall)
	}
	// 12,500 bytes every 250 ms is 400 kbit/s.
	if got.RecvKbps < 399 || got.RecvKbps > 401 {
		t.Errorf("RecvKbps %.1f, want 400", got.RecvKbps)
	}
	var b strings.Builder
	if err := WriteTable(&b, []*Result{{Scenario: Scenario{Name: "x", Publishers: 1}, Results: []PhaseResult{got}}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| 400k") || !strings.Contains(b.String(), "1.0 s") || !strings.Contains(b.String(), "550, 650") {
		t.Errorf("table lacks the phase or its reach time:\n%s", b.String())
	}
}

// TestAnalyzeNeverReached: a phase whose camera never comes back up reports
// Reached -1 ("never").
func TestAnalyzeNeverReached(t *testing.T) {
	const t0 = 2_000_000
	heights := []int{Q, Q, Q, Q, Q, Q, Q, Q}
	frames := []int64{1, 2, 3, 4, 5, 6, 7, 8}
	r := &Result{Main: "PA_1/camera", Viewer: samples(t0, heights, frames, 100)}
	got := analyze(r, PhaseRun{Phase: Phase{Fits: F}, Start: t0 + 500, End: t0 + 2000})
	if got.Reached != -1 || got.Stalls != 0 {
		t.Errorf("Reached %v stalls %d, want -1 and 0", got.Reached, got.Stalls)
	}
}

// TestParseMetrics sums labelled samples and skips other names and comments.
func TestParseMetrics(t *testing.T) {
	text := `# HELP lectern_sfu_keyframe_requests_total x
# TYPE lectern_sfu_keyframe_requests_total counter
lectern_sfu_keyframe_requests_total{kind="pli",room="a b"} 3
lectern_sfu_keyframe_requests_total{kind="fir",room="c"} 4
lectern_sfu_rooms 1
go_goroutines 40
lectern_sfu_bad{x="1"} nope
`
	m, err := parseMetrics(strings.NewReader(text), "lectern_sfu_")
	if err != nil {
		t.Fatal(err)
	}
	if m["lectern_sfu_keyframe_requests_total"] != 7 || m["lectern_sfu_rooms"] != 1 || len(m) != 2 {
		t.Errorf("got %v", m)
	}
}

// FuzzParseMetrics: any text parses without panicking, and only names with
// the prefix come out.
func FuzzParseMetrics(f *testing.F) {
	f.Add("lectern_sfu_rooms 1\n")
	f.Add(`lectern_sfu_x{a="}"} 2 1700000000` + "\n")
	f.Add("lectern_sfu_y{\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, _ := parseMetrics(strings.NewReader(text), "lectern_sfu_")
		for k := range m {
			if !strings.HasPrefix(k, "lectern_sfu_") {
				t.Errorf("name %q lacks the prefix", k)
			}
		}
	})
}

// TestSNMPField reads a counter from /proc/net/snmp's layout.
func TestSNMPField(t *testing.T) {
	text := "Ip: Forwarding DefaultTTL\nIp: 2 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 100 2 7 90 5 0\nUdpLite: InDatagrams\nUdpLite: 0\n"
	if v, err := snmpField(text, "Udp:", "RcvbufErrors"); err != nil || v != 5 {
		t.Errorf("RcvbufErrors = %d, %v; want 5", v, err)
	}
	if _, err := snmpField(text, "Udp:", "Missing"); err == nil {
		t.Error("a missing counter gave no error")
	}
}
