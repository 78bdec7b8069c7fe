package sfu

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// slotsOut collects what h264Slots emits, by output sequence number.
type slotsOut struct {
	t   *testing.T
	got map[uint16]rtp.Packet
}

func (o *slotsOut) emit(p *rtp.Packet) {
	if _, dup := o.got[p.SequenceNumber]; dup {
		o.t.Errorf("output number %d used twice", p.SequenceNumber)
	}
	if len(p.Payload) > maxPayload {
		o.t.Errorf("output %d: %d bytes of payload", p.SequenceNumber, len(p.Payload))
	}
	o.got[p.SequenceNumber] = *p.Clone()
}

// units reassembles the NAL units of output numbers from..to in order.
func (o *slotsOut) units(from, to uint16) ([][]byte, error) {
	var payloads [][]byte
	for s := from; s != to; s++ {
		if p, ok := o.got[s]; ok {
			payloads = append(payloads, p.Payload)
		}
	}
	return depacketize(payloads)
}

// TestSlotsFillLatePackets: a browser-sized stream keeps its numbers; once
// a packet is too large, gaps get two numbers each; late packets fill
// exactly their numbers (a small one split in two, a STAP-A into units), a
// late packet needing more is dropped, duplicates are dropped, and every
// number given to a gap maps back to the input number to NACK.
func TestSlotsFillLatePackets(t *testing.T) {
	var s h264Slots
	o := &slotsOut{t: t, got: map[uint16]rtp.Packet{}}
	unit := func(seq uint16, n int) []byte { return append(nalu(0x41, n), byte(seq)) }
	push := func(seq uint16, payload []byte) {
		s.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 100, Marker: true}, Payload: payload}, o.emit)
	}
	// Small packets, one lost and then recovered: numbers unchanged.
	push(100, unit(100, 500))
	push(102, unit(102, 500))
	if got := s.input(101); got != 101 {
		t.Errorf("output 101 maps to input %d, want 101", got)
	}
	push(101, unit(101, 500))
	for _, seq := range []uint16{100, 101, 102} {
		if p, ok := o.got[seq]; !ok || !bytes.Equal(p.Payload, unit(seq, 500)) {
			t.Errorf("small packet %d not passed on as it came", seq)
		}
	}
	// A 1,400-byte packet: two out. Then gaps take two numbers each.
	push(103, unit(103, 1400)) // 103, 104
	push(106, unit(106, 1400)) // gap 104 -> 105,106; gap 105 -> 107,108; 106 -> 109,110
	for out, in := range map[uint16]uint16{105: 104, 106: 104, 107: 105, 108: 105, 109: 109} {
		if got := s.input(out); got != in {
			t.Errorf("output %d maps to input %d, want %d", out, got, in)
		}
	}
	push(105, unit(105, 300))                                              // small, late: split in two
	push(104, stapOf(nalu(0x67, 20), nalu(0x68, 6)))                       // STAP-A, late: two units
	push(104, unit(104, 300))                                              // duplicate: dropped
	push(107, unit(107, 300))                                              // new, small
	push(109, unit(109, 1400))                                             // gap 108 -> 112,113; 109 -> 114,115
	push(108, stapOf(nalu(0x06, 1000), nalu(0x06, 1000), nalu(0x06, 900))) // needs 3: dropped
	units, err := o.units(103, 116)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{unit(103, 1400), nalu(0x67, 20), nalu(0x68, 6), unit(105, 300), unit(106, 1400), unit(107, 300), unit(109, 1400)}
	if !slices.EqualFunc(units, want, bytes.Equal) {
		t.Errorf("reassembled %d units, want %d in order", len(units), len(want))
	}
	for _, seq := range []uint16{112, 113} {
		if _, ok := o.got[seq]; ok {
			t.Errorf("output %d sent for a packet too large for its numbers", seq)
		}
	}
	if p := o.got[106]; !p.Marker || o.got[105].Marker {
		t.Error("the marker is not on the last piece of the late packet")
	}
}

// FuzzSlots: any order of arrivals and any payloads emit no number twice,
// no payload over maxPayload, and no panic.
func FuzzSlots(f *testing.F) {
	f.Add([]byte{0, 1, 3, 2, 5, 4, 4, 9, 6}, 1400)
	f.Add([]byte{0, 200, 100, 1, 2}, 300)
	f.Fuzz(func(t *testing.T, order []byte, size int) {
		size = 3 + (size%3000+3000)%3000
		var s h264Slots
		o := &slotsOut{t: t, got: map[uint16]rtp.Packet{}}
		for i, b := range order {
			seq := uint16(b)
			n := size
			if i%3 == 1 {
				n = 3 + n/7
			}
			s.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: append(nalu(0x41, n), b)}, o.emit)
			_ = s.input(uint16(b) * 3)
		}
	})
}

// TestWebRTCH264RightSizedThroughLoss: a WebRTC publisher's H.264 in
// 1,400-byte NAL units, some lost on its uplink and recovered, reaches a
// subscriber in packets of at most 1,200 bytes that reassemble, in order,
// into every unit sent, the recovered ones included.
func TestWebRTCH264RightSizedThroughLoss(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("whip-h264", RoomOptions{Broadcast: true})
	sub := subscribe(t, join(t, room, "viewer", access.Subscribe))
	pub := publishLossy(t, join(t, room, "host", everyone), webrtc.MimeTypeH264)
	pub.size = 1400

	warm := make(chan struct{})
	go func() {
		defer close(warm)
		pub.pumpSeqs(1, 200, nil)
	}()
	sub.waitSources(10*time.Second, SourceCamera)
	<-warm
	// Start from a clean slate: what arrived while warming is not checked.
	for len(sub.video) > 0 {
		<-sub.video
	}
	lost := map[uint16]bool{}
	for seq := uint16(300); seq < 700; seq += 23 {
		lost[seq] = true
	}
	pub.mu.Lock()
	for seq := range lost {
		pub.drop[seq] = true
	}
	pub.mu.Unlock()
	pub.pumpSeqs(200, 800, nil)

	// Collect until every unit from 250 to 750 has been reassembled.
	got := map[uint16]*rtp.Packet{}
	var tags map[uint16][]byte
	deadline := time.After(15 * time.Second)
	for {
		select {
		case p := <-sub.video:
			got[p.SequenceNumber] = p
			continue
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d of units 250..750 reassembled in 15 s", len(tags))
		}
		tags = unitsByTag(t, got)
		complete := true
		for seq := uint16(250); seq < 750; seq++ {
			if tags[seq] == nil {
				complete = false
				break
			}
		}
		if complete {
			break
		}
	}
	if m := sub.maxVideoSize(); m > 1200 {
		t.Errorf("largest video packet %d bytes, want at most 1,200", m)
	}
	for seq := uint16(250); seq < 750; seq++ {
		u := tags[seq]
		want := []byte{0x41, 0x9a, 0x02} // as lossyPublisher.send makes them
		if u[0] == 0x65 {
			want = []byte{0x65, 0x88, 0x84}
		}
		want = append(want, make([]byte, 1400-len(want)-2)...)
		want = binary.BigEndian.AppendUint16(want, seq)
		if !bytes.Equal(u, want) {
			t.Errorf("unit %d (lost on the uplink: %v) reassembled wrong", seq, lost[seq])
		}
	}
	if st := s.Stats(); st.Recovered < uint64(len(lost)) {
		t.Errorf("stats: %d recovered, want at least %d", st.Recovered, len(lost))
	}
}

// unitsByTag reassembles the NAL units in the packets got (by sequence
// number, in runs without holes) and indexes them by the tag in their last
// two bytes.
func unitsByTag(t *testing.T, got map[uint16]*rtp.Packet) map[uint16][]byte {
	seqs := make([]int, 0, len(got))
	var base uint16
	for s := range got {
		base = s
		break
	}
	for s := range got {
		seqs = append(seqs, int(int16(s-base)))
	}
	sort.Ints(seqs)
	out := map[uint16][]byte{}
	var run [][]byte
	flush := func() {
		// A run may start or end inside a unit: drop its partial fragments.
		for len(run) > 0 && run[0][0]&0x1f == naluFUA && run[0][1]&0x80 == 0 {
			run = run[1:]
		}
		for len(run) > 0 && run[len(run)-1][0]&0x1f == naluFUA && run[len(run)-1][1]&0x40 == 0 {
			run = run[:len(run)-1]
		}
		units, err := depacketize(run)
		if err != nil {
			t.Fatalf("reassembling: %v", err)
		}
		for _, u := range units {
			if len(u) >= 2 {
				out[binary.BigEndian.Uint16(u[len(u)-2:])] = u
			}
		}
		run = run[:0]
	}
	for i, s := range seqs {
		if i > 0 && s != seqs[i-1]+1 {
			flush()
		}
		run = append(run, got[base+uint16(s)].Payload)
	}
	flush()
	return out
}
