package record

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// samples returns n samples of duration d.
func samples(n int, d uint32) []*fmp4.Sample {
	out := make([]*fmp4.Sample, n)
	for i := range out {
		out[i] = &fmp4.Sample{Duration: d, PTSOffset: int32(i % 2 * 3000), IsNonSyncSample: i > 0, Payload: []byte{byte(i), 1, 2, 3}}
	}
	return out
}

// fragment is one fMP4 fragment (moof, mdat) as the segmenter writes them:
// video (track 1, 90 kHz) and audio (track 2, 48 kHz) from the given
// decode times.
func fragment(t testing.TB, seq uint32, video, audio uint64) []byte {
	t.Helper()
	p := fmp4.Part{SequenceNumber: seq, Tracks: []*fmp4.PartTrack{
		{ID: 1, BaseTime: video, Samples: samples(3, 3600)},
		{ID: 2, BaseTime: audio, Samples: samples(5, 960)},
	}}
	var buf seekablebuffer.Buffer
	if err := p.Marshal(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mp4Box builds a box of type typ around payload.
func mp4Box(typ string, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

func u32(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}

// Hand-made fragments for what the segmenter does not write: a 32-bit
// tfdt, durations from the tfhd's default, and broken boxes.
var (
	fragV0 = mp4Box("moof", mp4Box("mfhd", u32(0, 1)),
		mp4Box("traf", mp4Box("tfhd", u32(0x08, 1, 1000)), mp4Box("tfdt", u32(0, 5000)), mp4Box("trun", u32(0, 4))))
	fragNoTfdt = mp4Box("moof", mp4Box("traf", mp4Box("tfhd", u32(0, 1)), mp4Box("trun", u32(0x100, 1, 10))))
	fragNoDur  = mp4Box("moof", mp4Box("traf", mp4Box("tfhd", u32(0, 1)), mp4Box("tfdt", u32(0, 1)), mp4Box("trun", u32(0, 2))))
	fragHuge   = mp4Box("moof", mp4Box("traf", mp4Box("tfhd", u32(0, 1)), mp4Box("tfdt", u32(0, 1)), mp4Box("trun", u32(0x100, 1<<30))))
	fragBig    = append(u32(1<<20), "moof"...)
)

func TestSpans(t *testing.T) {
	two := append(fragment(t, 1, 900000, 480000), fragment(t, 2, 910800, 484800)...)
	for _, c := range []struct {
		name string
		seg  []byte
		want map[uint32]trackSpan
		ok   bool
	}{
		{"one fragment", fragment(t, 1, 900000, 480000), map[uint32]trackSpan{1: {900000, 910800}, 2: {480000, 484800}}, true},
		{"two fragments", two, map[uint32]trackSpan{1: {900000, 921600}, 2: {480000, 489600}}, true},
		{"32-bit tfdt, default durations", fragV0, map[uint32]trackSpan{1: {5000, 9000}}, true},
		{"mdat only", mp4Box("mdat", []byte{1, 2}), map[uint32]trackSpan{}, true},
		{"no tfdt", fragNoTfdt, nil, false},
		{"no durations", fragNoDur, nil, false},
		{"more samples than bytes", fragHuge, nil, false},
		{"box larger than the data", fragBig, nil, false},
		{"cut short", fragment(t, 1, 1, 1)[:50], nil, false},
	} {
		got, err := spans(c.seg)
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v", c.name, err)
			continue
		}
		if c.ok && !equalSpans(got, c.want) {
			t.Errorf("%s: spans %v, want %v", c.name, got, c.want)
		}
	}
}

func equalSpans(a, b map[uint32]trackSpan) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestShift: the tfdt of each track is moved by its offset and nothing
// else changes (mediacommon reads the same samples back); a move below
// zero or out of a 32-bit tfdt fails and leaves the segment as it was.
func TestShift(t *testing.T) {
	orig := fragment(t, 7, 45000, 24000)
	seg := bytes.Clone(orig)
	if err := shift(seg, map[uint32]int64{1: 1080000, 2: -24000}); err != nil {
		t.Fatal(err)
	}
	var got, was fmp4.Parts
	if err := got.Unmarshal(seg); err != nil {
		t.Fatal(err)
	}
	if err := was.Unmarshal(orig); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].SequenceNumber != 7 || len(got[0].Tracks) != 2 {
		t.Fatalf("shifted fragment reads as %+v", got)
	}
	for i, want := range []uint64{1125000, 0} {
		tr := got[0].Tracks[i]
		if tr.BaseTime != want {
			t.Errorf("track %d: tfdt %d, want %d", tr.ID, tr.BaseTime, want)
		}
		for k, s := range tr.Samples {
			w := was[0].Tracks[i].Samples[k]
			if s.Duration != w.Duration || s.PTSOffset != w.PTSOffset || s.IsNonSyncSample != w.IsNonSyncSample || !bytes.Equal(s.Payload, w.Payload) {
				t.Errorf("track %d sample %d: %+v, was %+v", tr.ID, k, s, w)
			}
		}
	}
	if len(seg) != len(orig) {
		t.Errorf("length %d, was %d", len(seg), len(orig))
	}

	for _, c := range []struct {
		name string
		seg  []byte
		off  map[uint32]int64
	}{
		{"below zero", fragment(t, 1, 100, 100), map[uint32]int64{1: 50, 2: -101}},
		{"beyond a 32-bit tfdt", fragV0, map[uint32]int64{1: 1 << 32}},
		{"no tfdt", fragNoTfdt, map[uint32]int64{1: 1}},
	} {
		before := bytes.Clone(c.seg)
		if err := shift(c.seg, c.off); err == nil || !bytes.Equal(before, c.seg) {
			t.Errorf("%s: error %v, changed %v", c.name, err, !bytes.Equal(before, c.seg))
		}
	}
	v0 := bytes.Clone(fragV0)
	if err := shift(v0, map[uint32]int64{1: 1000, 9: 5}); err != nil {
		t.Fatal(err)
	}
	if sp, err := spans(v0); err != nil || sp[1] != (trackSpan{6000, 10000}) {
		t.Errorf("32-bit tfdt moved: %v %v", sp, err)
	}
}

// FuzzFragment: spans and shift never panic on bytes from the store, and
// a shift that succeeds moves every span of the tracks it moves by its
// offset and nothing else.
func FuzzFragment(f *testing.F) {
	f.Add(fragment(f, 1, 900000, 480000), int64(1000))
	f.Add(fragV0, int64(-5000))
	f.Add(fragNoTfdt, int64(1))
	f.Add(fragNoDur, int64(1))
	f.Add(fragHuge, int64(1))
	f.Add(fragBig, int64(1))
	f.Add(mp4Box("moof", mp4Box("traf", mp4Box("tfhd", u32(0x0b, 1, 0, 0, 9, 0)), mp4Box("tfdt", u32(1<<24, 0, 7)), mp4Box("trun", u32(0xf05, 2, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8)))), int64(3))
	f.Fuzz(func(t *testing.T, seg []byte, d int64) {
		before, err := spans(seg)
		moved := bytes.Clone(seg)
		serr := shift(moved, map[uint32]int64{1: d})
		if serr != nil {
			if !bytes.Equal(moved, seg) {
				t.Fatalf("a failed shift changed the segment")
			}
			return
		}
		if err != nil {
			return
		}
		after, err := spans(moved)
		if err != nil {
			t.Fatalf("spans after a shift: %v", err)
		}
		if s, ok := before[1]; ok {
			s.start, s.end = s.start+uint64(d), s.end+uint64(d)
			before[1] = s
		}
		if !equalSpans(before, after) {
			t.Fatalf("shift by %d: spans %v, then %v", d, before, after)
		}
	})
}
