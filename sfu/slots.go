package sfu

import (
	"sync"

	"github.com/pion/rtp"
)

// slotRing is how many input sequence numbers h264Slots remembers: more than
// the widest gap repaired packet by packet (maxNackGap) and the packets
// repaired at once (maxMissing).
const slotRing = 1024

// h264Slots re-packetizes a WebRTC publisher's H.264 layer so that no payload
// sent on exceeds maxPayload, like h264Repacketizer does for pushed tracks,
// but for input that can arrive late: a packet reordered on the way, or lost,
// NACKed and recovered. Each packet missing from the input gets its output
// sequence numbers when the gap is seen, one each, or two once the layer has
// sent a packet too large for one; a late packet fills exactly the numbers it
// was given (split in two if it would fit in one), or is dropped if it needs
// more. So every output number is used once, by one input packet, and a
// subscriber's NACK for an output number maps back to the input number the
// SFU asks the publisher for (input). Browsers packetize H.264 for WebRTC,
// so for them the output numbers are the input's and nothing is re-cut.
//
// The layer's reader calls push, and owns every field but back, which mu
// guards: subscribers' NACK handling reads it.
type h264Slots struct {
	cut     h264Repacketizer
	started bool
	// wide is set once a packet needed more than one: gaps from then on
	// are given two numbers a packet.
	wide bool
	// highest is the newest input number, next the output number after it.
	highest, next uint16
	gaps          [slotRing]slotGap
	// pieces are the current packet's payloads, copied off cut's buffer.
	pieces [][]byte

	mu   sync.Mutex
	back [2 * slotRing]slotBack
}

// slotGap is an input packet that has not arrived: the output numbers out to
// out+n-1 wait for it while open.
type slotGap struct {
	in, out uint16
	n       uint8
	open    bool
}

// slotBack maps an output number given to a missing packet to its input number.
type slotBack struct {
	out, in uint16
	valid   bool
}

// push re-packetizes pkt and hands each resulting packet to emit, which must
// not keep it.
func (s *h264Slots) push(pkt *rtp.Packet, emit func(*rtp.Packet)) {
	seq := pkt.SequenceNumber
	if !s.started {
		s.started, s.highest, s.next = true, seq-1, seq
	}
	diff := int16(seq - s.highest)
	if diff <= 0 {
		g := &s.gaps[seq%slotRing]
		if !g.open || g.in != seq {
			return // a duplicate, or older than anything remembered
		}
		g.open = false
		s.send(pkt, g.out, int(g.n), emit)
		return
	}
	s.reserve(int(diff) - 1)
	s.highest = seq
	s.gaps[seq%slotRing].open = false
	s.next += uint16(s.send(pkt, s.next, 0, emit))
}

// reserve gives output numbers to the gap packets after highest.
func (s *h264Slots) reserve(gap int) {
	if gap > maxNackGap {
		// An outage: never repaired packet by packet, so nothing waits.
		for i := 1; i <= min(gap, slotRing); i++ {
			s.gaps[(s.highest+uint16(i))%slotRing].open = false
		}
		s.next += uint16(gap)
		return
	}
	n := uint8(1)
	if s.wide {
		n = 2
	}
	s.mu.Lock()
	for i := 1; i <= gap; i++ {
		in := s.highest + uint16(i)
		s.gaps[in%slotRing] = slotGap{in: in, out: s.next, n: n, open: true}
		for j := uint8(0); j < n; j++ {
			s.back[s.next%(2*slotRing)] = slotBack{out: s.next, in: in, valid: true}
			s.next++
		}
	}
	s.mu.Unlock()
}

// input returns the input number of output number out, if out was given to
// a missing packet; otherwise out itself, which then names no input packet
// the SFU waits for.
func (s *h264Slots) input(out uint16) uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.back[out%(2*slotRing)]; b.valid && b.out == out {
		return b.in
	}
	return out
}

// send emits pkt as packets numbered from out and returns how many. want,
// when not zero, is how many it must be: fewer are split, more are dropped
// (and 0 returned).
func (s *h264Slots) send(pkt *rtp.Packet, out uint16, want int, emit func(*rtp.Packet)) int {
	p := pkt.Payload
	if len(p) <= maxPayload && want <= 1 {
		// The common case: passed on as it came.
		o := rtp.Packet{Header: pkt.Header, Payload: p}
		o.SequenceNumber = out
		emit(&o)
		return 1
	}
	s.pieces = s.pieces[:0]
	collect := func(b []byte, _ bool) { s.pieces = append(s.pieces, append([]byte(nil), b...)) }
	s.cut.packets(p, collect)
	if len(s.pieces) > 1 {
		s.wide = true
	}
	if want > 0 && len(s.pieces) != want {
		if len(s.pieces) > want || !s.halve(p, collect) {
			return 0
		}
	}
	o := rtp.Packet{Header: pkt.Header}
	for i, b := range s.pieces {
		o.SequenceNumber = out + uint16(i)
		o.Marker = pkt.Marker && i == len(s.pieces)-1
		o.Payload = b
		emit(&o)
	}
	return len(s.pieces)
}

// halve cuts payload p, which fits in one packet, into two, putting them in
// s.pieces through collect; it reports false if p cannot be cut.
func (s *h264Slots) halve(p []byte, collect func([]byte, bool)) bool {
	s.pieces = s.pieces[:0]
	if len(p) < 3 {
		return false
	}
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23:
		data := p[1:]
		s.cut.fragmentBy((len(data)+1)/2, p[0]&0xe0, t, data, true, true, true, collect)
	case t == naluFUA:
		data := p[2:]
		if len(data) < 2 {
			return false
		}
		s.cut.fragmentBy((len(data)+1)/2, p[0]&0xe0, p[1]&0x1f, data, p[1]&0x80 != 0, p[1]&0x40 != 0, true, collect)
	case t == naluSTAPA:
		if !s.cut.parseSTAP(p) {
			return false
		}
		units := s.cut.units
		if len(units) == 1 {
			return s.halve(units[0], collect)
		}
		collect(units[0], false)
		if len(units) == 2 {
			collect(units[1], true)
			break
		}
		rest := []byte{naluSTAPA | p[0]&0x60}
		for _, u := range units[1:] {
			rest = append(rest, byte(len(u)>>8), byte(len(u)))
			rest = append(rest, u...)
		}
		collect(rest, true)
	default:
		return false
	}
	return len(s.pieces) == 2
}
