package sfu

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// nalu returns a NAL unit of n bytes with header byte hdr and a pattern body.
func nalu(hdr byte, n int) []byte {
	u := make([]byte, n)
	u[0] = hdr
	for i := 1; i < n; i++ {
		u[i] = byte(i*7 + n)
	}
	return u
}

// fuA fragments a unit the way an encoder outside WebRTC does, size bytes a packet.
func fuA(u []byte, size int) [][]byte {
	var out [][]byte
	data := u[1:]
	for first := true; len(data) > 0; first = false {
		n := min(len(data), size-2)
		h := u[0] & 0x1f
		if first {
			h |= 0x80
		}
		if n == len(data) {
			h |= 0x40
		}
		out = append(out, append([]byte{u[0]&0xe0 | 28, h}, data[:n]...))
		data = data[n:]
	}
	return out
}

// depacketize reassembles NAL units from payloads in order (RFC 6184).
func depacketize(payloads [][]byte) ([][]byte, error) {
	var units [][]byte
	var fu []byte
	for _, p := range payloads {
		if len(p) == 0 {
			return nil, fmt.Errorf("empty payload")
		}
		switch t := p[0] & 0x1f; t {
		case 24:
			for i := 1; i < len(p); {
				if i+2 > len(p) {
					return nil, fmt.Errorf("STAP-A truncated")
				}
				n := int(p[i])<<8 | int(p[i+1])
				i += 2
				if n == 0 || i+n > len(p) {
					return nil, fmt.Errorf("STAP-A unit overflows")
				}
				units = append(units, p[i:i+n])
				i += n
			}
		case 28:
			if len(p) < 2 {
				return nil, fmt.Errorf("FU-A truncated")
			}
			if p[1]&0x80 != 0 {
				if fu != nil {
					return nil, fmt.Errorf("FU-A start inside a unit")
				}
				fu = []byte{p[0]&0xe0 | p[1]&0x1f}
			} else if fu == nil {
				return nil, fmt.Errorf("FU-A continues nothing")
			}
			fu = append(fu, p[2:]...)
			if p[1]&0x40 != 0 {
				units, fu = append(units, fu), nil
			}
		default:
			units = append(units, p)
		}
	}
	if fu != nil {
		return nil, fmt.Errorf("FU-A unfinished")
	}
	return units, nil
}

var repacketizeCases = []struct {
	name  string
	units [][]byte
	in    [][]byte // payloads as the encoder sent them
}{
	{"small single", [][]byte{nalu(0x41, 300)}, [][]byte{nalu(0x41, 300)}},
	{"1400-byte single", [][]byte{nalu(0x65, 1400)}, [][]byte{nalu(0x65, 1400)}},
	{"3000-byte single", [][]byte{nalu(0x65, 3000)}, [][]byte{nalu(0x65, 3000)}},
	{"FU-A of 1448", [][]byte{nalu(0x65, 5000)}, fuA(nalu(0x65, 5000), 1448)},
	{"STAP-A sps pps idr", [][]byte{nalu(0x67, 20), nalu(0x68, 6), nalu(0x65, 1400)},
		[][]byte{stapOf(nalu(0x67, 20), nalu(0x68, 6), nalu(0x65, 1400))}},
	{"STAP-A of many", [][]byte{nalu(0x06, 500), nalu(0x06, 500), nalu(0x06, 500), nalu(0x41, 700)},
		[][]byte{stapOf(nalu(0x06, 500), nalu(0x06, 500), nalu(0x06, 500), nalu(0x41, 700))}},
}

func stapOf(units ...[]byte) []byte {
	p := []byte{24 | 0x60}
	for _, u := range units {
		p = append(p, byte(len(u)>>8), byte(len(u)))
		p = append(p, u...)
	}
	return p
}

// TestRepacketize: every case comes out in payloads of at most maxPayload
// that reassemble to the same NAL units, numbered without holes, the
// timestamp kept and the marker on the last packet only.
func TestRepacketize(t *testing.T) {
	for _, c := range repacketizeCases {
		t.Run(c.name, func(t *testing.T) {
			var r h264Repacketizer
			var out []rtp.Packet
			for i, p := range c.in {
				r.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(100 + i), Timestamp: 9000, Marker: i == len(c.in)-1}, Payload: p},
					func(p *rtp.Packet) { out = append(out, *p.Clone()) })
			}
			var payloads [][]byte
			for i, p := range out {
				if len(p.Payload) > maxPayload {
					t.Errorf("packet %d: %d bytes of payload", i, len(p.Payload))
				}
				if p.SequenceNumber != out[0].SequenceNumber+uint16(i) || p.Timestamp != 9000 || p.Marker != (i == len(out)-1) {
					t.Errorf("packet %d: seq %d ts %d marker %v", i, p.SequenceNumber, p.Timestamp, p.Marker)
				}
				payloads = append(payloads, p.Payload)
			}
			units, err := depacketize(payloads)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(units, c.units, bytes.Equal) {
				t.Errorf("reassembled %d units, want the %d sent", len(units), len(c.units))
			}
		})
	}
}

// TestRepacketizeKeepsGaps: input loss stays visible in the output numbers,
// and late or repeated input is dropped.
func TestRepacketizeKeepsGaps(t *testing.T) {
	var r h264Repacketizer
	var seqs []uint16
	emit := func(p *rtp.Packet) { seqs = append(seqs, p.SequenceNumber) }
	big := nalu(0x65, 1400) // two packets out
	for _, s := range []uint16{10, 11, 13, 12, 13, 14} {
		r.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: s}, Payload: big}, emit)
	}
	want := []uint16{0, 1, 2, 3, 5, 6, 7, 8} // 12 lost (one number), then 12 and 13 again dropped
	if !slices.Equal(seqs, want) {
		t.Errorf("sequence numbers %v, want %v", seqs, want)
	}
}

// FuzzRepacketize: any payload comes out without a panic; a well-formed one
// in payloads of at most maxPayload that reassemble to what it carried.
func FuzzRepacketize(f *testing.F) {
	for _, c := range repacketizeCases {
		for _, p := range c.in {
			f.Add(p)
		}
	}
	f.Add([]byte{24, 0, 5, 1, 2})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) == 0 {
			return
		}
		var r h264Repacketizer
		var out [][]byte
		r.push(&rtp.Packet{Payload: payload}, func(p *rtp.Packet) { out = append(out, slices.Clone(p.Payload)) })
		if len(out) == 0 {
			t.Fatal("nothing came out")
		}
		if len(out) == 1 && bytes.Equal(out[0], payload) {
			return // passed on as it came (small, malformed or another type)
		}
		for _, p := range out {
			if len(p) > maxPayload {
				t.Fatalf("a %d-byte payload", len(p))
			}
		}
		t0 := payload[0] & 0x1f
		if t0 == 28 {
			return // a fragment alone does not reassemble
		}
		want, err := depacketize([][]byte{payload})
		if err != nil {
			return
		}
		got, err := depacketize(out)
		if err != nil {
			t.Fatalf("output does not reassemble: %v", err)
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatal("reassembled units differ")
		}
	})
}

// TestPushedH264ReachesSubscribersRightSized: an outside encoder's H.264 in
// 1,400-byte NAL units and 1,448-byte FU-A fragments reaches a pion
// subscriber in packets of at most 1,200 bytes whose frames are the ones
// sent, byte for byte; and the subscriber's NACK for a re-packetized packet
// is answered with that packet.
func TestPushedH264ReachesSubscribersRightSized(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("rtsp", RoomOptions{Broadcast: true})
	sub := subscribe(t, join(t, room, "viewer", access.Subscribe))
	enc, err := room.Join(ParticipantOptions{Identity: "enc", Name: "enc", Kind: KindEncoder, Permissions: everyone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close("test over") })
	tr, err := enc.PublishTrack(TrackSpec{Kind: webrtc.RTPCodecTypeVideo, Source: SourceCamera,
		Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}})
	if err != nil {
		t.Fatal(err)
	}
	// Each frame: a keyframe (STAP-A with SPS, PPS and a 1,400-byte IDR) or a
	// 1,400-byte single-unit P frame, or a 4,000-byte one in FU-A.
	frame := func(i int) [][]byte {
		switch {
		case i%30 == 0:
			return [][]byte{stapOf(nalu(0x67, 20), nalu(0x68, 6), append(nalu(0x65, 1400), byte(i)))}
		case i%2 == 0:
			return [][]byte{append(nalu(0x41, 1400), byte(i))}
		}
		return fuA(append(nalu(0x41, 4000), byte(i)), 1448)
	}
	stop := make(chan struct{})
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		seq := uint16(0)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			ps := frame(i)
			for j, p := range ps {
				tr.Push(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i) * 3000, Marker: j == len(ps)-1}, Payload: p})
				seq++
			}
		}
	}()
	defer func() { close(stop); <-pushed }()
	sub.waitSources(10*time.Second, SourceCamera)

	// Collect a few seconds of payloads and reassemble whole frames from the
	// first keyframe on.
	var got [][]byte
	deadline := time.After(10 * time.Second)
	for len(got) < 300 {
		select {
		case p := <-sub.payloads:
			got = append(got, p)
		case <-deadline:
			t.Fatalf("%d packets in 10 s", len(got))
		}
	}
	if m := sub.maxVideoSize(); m > 1200 || m == 0 {
		t.Errorf("largest video packet %d bytes, want at most 1,200", m)
	}
	start := slices.IndexFunc(got, func(p []byte) bool { return p[0]&0x1f == 24 })
	end := len(got) - 1
	for end > start && !(got[end][0]&0x1f != 28 || got[end][1]&0x40 != 0) {
		end--
	}
	units, err := depacketize(got[start : end+1])
	if err != nil {
		t.Fatal(err)
	}
	if len(units) < 50 {
		t.Fatalf("only %d units reassembled", len(units))
	}
	// The units are a stretch of those sent, in order.
	var sent [][]byte
	for i := range 3000 {
		w, err := depacketize(frame(i))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, w...)
	}
	found := false
	for pos := range sent {
		if pos+len(units) <= len(sent) && slices.EqualFunc(units, sent[pos:pos+len(units)], bytes.Equal) {
			found = true
			break
		}
	}
	if !found {
		t.Fatalf("the %d units received are not the ones sent", len(units))
	}

	// A NACK for the last packet received is answered with the same bytes.
	seq, ssrc := sub.lastVideo()
	before := s.Stats().Retransmitted
	if err := sub.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc,
		Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq})}}); err != nil {
		t.Fatal(err)
	}
	deadline = time.After(5 * time.Second)
	for s.Stats().Retransmitted == before {
		select {
		case <-sub.payloads:
		case <-deadline:
			t.Fatal("the NACKed packet was not resent")
		}
	}
}
