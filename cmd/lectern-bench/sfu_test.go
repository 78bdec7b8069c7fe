package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// TestSFUBench runs the SFU bench against a real server with tiny numbers, for
// correctness: media flows to both subscribers with little loss, the first
// frames are timed, the CPU figure is computed, and a simulcast subscriber gets
// the top layer only.
func TestSFUBench(t *testing.T) {
	bin := serverBinary(t)
	cases := []struct {
		name      string
		args      []string
		simulcast bool
	}{
		{"vp8", []string{"--codec", "vp8"}, false},
		{"h264-simulcast", []string{"--codec", "h264", "--simulcast"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			args := append([]string{"sfu", "--server-bin", bin, "--subscribers", "2", "--tier", "sd",
				"--ramp", "200ms", "--settle", "300ms", "--duration", "2s", "--join-timeout", "10s"}, c.args...)
			if err := run(t.Context(), args, &out); err != nil {
				t.Fatalf("bench: %v\n%s", err, out.String())
			}
			row := sfuRow(t, out.String())
			sent, forwarded := atoi(t, row["packets sent"]), atoi(t, row["packets forwarded"])
			if sent < 100 {
				t.Errorf("the publisher sent %d packets in 2 s of 1 Mbit/s", sent)
			}
			// Without simulcast each subscriber gets every packet; with it, the f
			// layer, which is 16/21 of the bytes.
			want := 2 * sent * 9 / 10
			if c.simulcast {
				want = 2 * sent * 6 / 10
			}
			if forwarded < want {
				t.Errorf("forwarded %d packets, want at least %d (sent %d)", forwarded, want, sent)
			}
			if loss := leadingFloat(t, row["loss"]); loss > 2 {
				t.Errorf("loss %.2f %%, want under 2 %%", loss)
			}
			if first := row["first frame p50 / p99"]; !strings.HasSuffix(first, "(2 of 2)") || leadingFloat(t, first) <= 0 {
				t.Errorf("first frame: %q, want both subscribers timed", first)
			}
			if us := leadingFloat(t, row["server CPU per forwarded packet"]); us <= 0 {
				t.Errorf("CPU per packet %v", us)
			}
			if c.simulcast && !strings.Contains(out.String(), "q 0, h 0, f ") {
				t.Errorf("simulcast subscribers did not get only the top layer:\n%s", out.String())
			}
			t.Logf("\n%s", out.String())
		})
	}
}

// sfuRow returns the report's table row by column name.
func sfuRow(t *testing.T, report string) map[string]string {
	t.Helper()
	lines := strings.Split(report, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "| rooms") {
		t.Fatalf("report:\n%s", report)
	}
	names, cells := strings.Split(lines[0], "|"), strings.Split(lines[2], "|")
	if len(names) != len(cells) {
		t.Fatalf("row does not match the header:\n%s", report)
	}
	row := map[string]string{}
	for i := range names {
		row[strings.TrimSpace(names[i])] = strings.TrimSpace(cells[i])
	}
	return row
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a count", s)
	}
	return n
}

// leadingFloat parses the number a cell starts with.
func leadingFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, _, _ := strings.Cut(s, " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		t.Fatalf("%q does not start with a number", s)
	}
	return v
}

func TestSFUFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--server-bin", "x", "--url", "http://127.0.0.1:1"},
		{"--url", "http://127.0.0.1:1", "--admin-key", "k"},
		{"--server-bin", "x", "--codec", "av1"},
		{"--server-bin", "x", "--tier", "8k"},
		{"--server-bin", "x", "--subscribers", "0"},
	} {
		if _, err := parseSFUFlags(args); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
	f, err := parseSFUFlags([]string{"--url", "http://127.0.0.1:1", "--admin-key", "k", "--server-pid", "42", "--simulcast"})
	if err != nil || !f.simulcast || f.codec != "h264" || f.tier != "hd" {
		t.Errorf("flags %+v, %v", f, err)
	}
}

// TestSyntheticH264 checks the synthetic stream is H.264 a parser accepts: the
// SPS gives the picture size, slice headers parse for timestamps, FU-A fragments
// reassemble, and a GOP averages the bitrate.
func TestSyntheticH264(t *testing.T) {
	for _, tier := range []string{"sd", "hd", "fhd", "4k"} {
		tt := tiers[tier]
		v := newVideoSource("h264", tt.width, tt.height, tt.bitrate, benchFPS, gopFrames)
		var sps h264.SPS
		if err := sps.Unmarshal(v.sps); err != nil {
			t.Fatalf("%s: SPS: %v", tier, err)
		}
		if sps.Width() != tt.width || sps.Height() != tt.height {
			t.Errorf("%s: SPS says %dx%d", tier, sps.Width(), sps.Height())
		}
		dts := h264.NewDTSExtractor()
		total := 0
		for frame := range gopFrames {
			var au [][]byte
			for i, p := range v.next(frame == 0) {
				total += len(p)
				if len(p) > maxPayload {
					t.Fatalf("payload of %d bytes", len(p))
				}
				switch p[0] & 0x1f {
				case 24: // STAP-A: SPS and PPS
					if frame != 0 || i != 0 {
						t.Fatal("parameter sets outside the keyframe's first packet")
					}
					for b := p[1:]; len(b) > 2; {
						n := int(b[0])<<8 | int(b[1])
						au = append(au, b[2:2+n])
						b = b[2+n:]
					}
				case 28: // FU-A
					if p[1]&0x80 != 0 {
						au = append(au, []byte{p[0]&0xe0 | p[1]&0x1f})
					}
					au[len(au)-1] = append(au[len(au)-1], p[2:]...)
				default:
					au = append(au, p)
				}
			}
			if frame == 0 && (len(au) != 3 || h264.NALUType(au[2][0]&0x1f) != h264.NALUTypeIDR) {
				t.Fatalf("keyframe NAL units: %d", len(au))
			}
			if _, err := dts.Extract(au, int64(frame)*90000/benchFPS); err != nil {
				t.Fatalf("%s frame %d: %v", tier, frame, err)
			}
		}
		want := tt.bitrate / 8 * gopFrames / benchFPS
		if total < want*95/100 || total > want*105/100 {
			t.Errorf("%s: a GOP is %d bytes, want about %d", tier, total, want)
		}
	}
}

func TestSyntheticVP8(t *testing.T) {
	v := newVideoSource("vp8", 1280, 720, 2_500_000, benchFPS, gopFrames)
	for _, key := range []bool{true, false} {
		pkts := v.next(key)
		for i, p := range pkts {
			// X and I set, S only on the first packet, 15-bit picture ID.
			if p[0]&0x80 == 0 || (p[0]&0x10 != 0) != (i == 0) || p[1] != 0x80 || p[2]&0x80 == 0 {
				t.Fatalf("descriptor % x", p[:4])
			}
		}
		hdr := pkts[0][4:]
		if isKey := hdr[0]&1 == 0; isKey != key {
			t.Errorf("keyframe bit says %v, want %v", isKey, key)
		}
		if key && (!bytes.Equal(hdr[3:6], []byte{0x9d, 0x01, 0x2a}) || int(hdr[6])|int(hdr[7])<<8 != 1280) {
			t.Errorf("keyframe header % x", hdr[:10])
		}
	}
}

func TestStampRoundTrip(t *testing.T) {
	p := make([]byte, 200)
	at := time.Unix(1700000000, 123456789)
	stamp("vp8", p, 2, at)
	layer, got, ok := readStamp(p)
	if !ok || layer != 2 || !got.Equal(at) {
		t.Errorf("stamp read back as %d %v %v", layer, got, ok)
	}
	stap := make([]byte, 200)
	stap[0] = 0x78
	stamp("h264", stap, 1, at)
	if _, _, ok := readStamp(stap); ok {
		t.Error("a STAP-A was stamped")
	}
}

// TestStreamStats feeds sequence numbers and checks the loss accounting.
func TestStreamStats(t *testing.T) {
	cases := []struct {
		name                                    string
		seqs                                    []uint16
		unique, expected, dups, reordered, lost uint64
	}{
		{"in order", []uint16{10, 11, 12, 13}, 4, 4, 0, 0, 0},
		{"gap", []uint16{10, 11, 14}, 3, 5, 0, 0, 2},
		{"gap filled late", []uint16{10, 12, 11, 13}, 4, 4, 0, 1, 0},
		{"duplicate", []uint16{10, 11, 11, 12}, 3, 3, 1, 0, 0},
		{"wrap", []uint16{65534, 65535, 0, 1}, 4, 4, 0, 0, 0},
		{"loss across wrap", []uint16{65534, 1}, 2, 4, 0, 0, 2},
		{"late across wrap", []uint16{65535, 1, 0}, 3, 3, 0, 1, 0},
	}
	for _, c := range cases {
		st := &streamStats{video: true, clock: 90000}
		now := time.Now()
		for i, s := range c.seqs {
			st.packet(s, uint32(i)*3000, nil, now.Add(time.Duration(i)*33*time.Millisecond))
		}
		w := st.snapshot()
		// The window opened before the first packet, which counts as expected.
		if w.unique != c.unique || w.expected != c.expected || w.dups != c.dups || w.reordered != c.reordered || w.lost() != c.lost {
			t.Errorf("%s: unique %d expected %d dups %d reordered %d lost %d, want %d %d %d %d %d", c.name,
				w.unique, w.expected, w.dups, w.reordered, w.lost(), c.unique, c.expected, c.dups, c.reordered, c.lost)
		}
	}
}

func TestLatencyHistogram(t *testing.T) {
	var h latencyHistogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(c.q)
		if got < c.want || got > c.want*9/8 {
			t.Errorf("q%v = %v, want %v to %v", c.q, got, c.want, c.want*9/8)
		}
	}
}
