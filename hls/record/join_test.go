package record

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"lectern/hls"
	"lectern/storage/objstore"
)

// testInit is an init section as the segmenter writes one: H.264 at 90 kHz
// (track 1), Opus at 48 kHz (track 2).
func testInit(t testing.TB) []byte {
	t.Helper()
	sps := []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
		0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20}
	in := fmp4.Init{Tracks: []*fmp4.InitTrack{
		{ID: 1, TimeScale: 90000, Codec: &mp4.CodecH264{SPS: sps, PPS: []byte{0x08}}},
		{ID: 2, TimeScale: 48000, Codec: &mp4.CodecOpus{ChannelCount: 2}},
	}}
	var buf seekablebuffer.Buffer
	if err := in.Marshal(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// seconds is where each track of seg starts and ends, in seconds.
func seconds(t *testing.T, seg ...[]byte) (start, end [2]float64) {
	t.Helper()
	sp, err := spans(seg...)
	if err != nil {
		t.Fatal(err)
	}
	for i, scale := range []float64{90000, 48000} {
		start[i], end[i] = float64(sp[uint32(i+1)].start)/scale, float64(sp[uint32(i+1)].end)/scale
	}
	return start, end
}

// TestJoinContinuesTimeline: part 0's last stored segment ends at 12.01 s
// (its audio; its video at 12.0 s); part 1's program starts again near 0,
// its audio 20 ms before its video. Moved, part 1 starts where part 0
// ends, its audio still 20 ms before its video, and its later segments
// follow, one offset for the whole part.
func TestJoinContinuesTimeline(t *testing.T) {
	init := testInit(t)
	prev := fragment(t, 40, 12*90000-10800, 12*48000-4800+480) // video ends at 12 s, audio at 12.01 s
	end, err := mediaEnd(init, prev)
	if err != nil || math.Abs(end-12.01) > 1e-9 {
		t.Fatalf("end of part 0: %v %v, want 12.01", end, err)
	}
	j := &join{end: end}
	first := hls.Segment{InitID: 1, Init: init, Parts: [][]byte{fragment(t, 1, 45000, 23040), fragment(t, 2, 55800, 27840)}}
	orig := bytes.Clone(first.Parts[0])
	moved, err := j.apply(first)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Parts[0], orig) {
		t.Errorf("apply changed the segment it was given")
	}
	start, _ := seconds(t, moved...)
	if math.Abs(start[1]-end) > 1.0/48000 || math.Abs(start[0]-start[1]-0.02) > 1.0/48000 {
		t.Errorf("part 1 starts at video %.5f audio %.5f; want audio at %.5f, 20 ms before video", start[0], start[1], end)
	}
	_, end1 := seconds(t, moved...)
	next, err := j.apply(hls.Segment{InitID: 1, Init: init, Parts: [][]byte{fragment(t, 3, 66600, 32640)}})
	if err != nil {
		t.Fatal(err)
	}
	start2, _ := seconds(t, next...)
	if math.Abs(start2[0]-end1[0]) > 1e-9 || math.Abs(start2[1]-end1[1]) > 1e-9 {
		t.Errorf("second segment starts at %v, the first ended at %v", start2, end1)
	}
	// A new init section (a new coding) keeps the part's offset.
	again, err := j.apply(hls.Segment{InitID: 2, Init: init, Parts: [][]byte{fragment(t, 4, 77400, 37440)}})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := seconds(t, again...); math.Abs(s[0]-(0.86+j.by)) > 1.0/90000 {
		t.Errorf("after a new init section the part starts at %v, want %v", s[0], 0.86+j.by)
	}
	if _, err := j.apply(hls.Segment{InitID: 3, Init: []byte("junk"), Parts: [][]byte{fragment(t, 5, 1, 1)}}); err == nil {
		t.Errorf("a segment whose init section cannot be read was moved")
	}
}

// TestPriorEnd reads where the earlier parts end from the store: the last
// stored segment of the index, with its init section.
func TestPriorEnd(t *testing.T) {
	store, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &Recorder{cfg: DefaultConfig(t.TempDir()), store: store}
	ctx := context.Background()
	put := func(name string, b []byte) {
		if err := store.Put(ctx, prefix("talk", "rec_1")+name, bytes.NewReader(b), int64(len(b)), "video/mp4"); err != nil {
			t.Fatal(err)
		}
	}
	prior := []entry{
		{File: "init-1.mp4", Init: 1},
		{File: "seg-000001.m4s", Init: 1, DurationUS: 2e6},
		{File: "p1-init-1.mp4", Part: 1, Init: 1},
		{File: "p1-seg-000001.m4s", Part: 1, Init: 1, DurationUS: 2e6},
	}
	if _, ok, err := r.priorEnd(ctx, "talk", "rec_1", prior[:1]); ok || err != nil {
		t.Errorf("no stored segment: %v %v", ok, err)
	}
	if _, _, err := r.priorEnd(ctx, "talk", "rec_1", prior); err == nil {
		t.Errorf("end read from a store without the segment")
	}
	put("p1-init-1.mp4", testInit(t))
	put("p1-seg-000001.m4s", fragment(t, 9, 90000, 48000))
	end, ok, err := r.priorEnd(ctx, "talk", "rec_1", prior)
	if !ok || err != nil || math.Abs(end-1.12) > 1e-9 {
		t.Errorf("end of the earlier parts: %v %v %v, want 1.12 s (its video)", end, ok, err)
	}
}
