package sfu

import "github.com/pion/rtp"

// maxPayload is the largest H.264 payload the SFU sends WebRTC subscribers
// for a pushed track. With the 12-byte RTP header, a header extension and
// the SRTP tag the packet stays under 1,200 bytes, the size that crosses
// VPNs, PPPoE and tunnels unfragmented. Encoders outside WebRTC packetize for
// Ethernet (ffmpeg: about 1,450 bytes).
const maxPayload = 1150

// NAL unit and packet types of RFC 6184 section 5.2.
const (
	naluSTAPA = 24
	naluFUA   = 28
)

// h264Repacketizer re-packetizes a pushed H.264 stream (packetization mode
// 1) so that no payload exceeds maxPayload: a large single NAL unit becomes
// FU-A fragments (RFC 6184 section 5.8), a large FU-A fragment several, a
// large STAP-A (section 5.7.1) smaller ones. Timestamps stay; sequence
// numbers are its own, so the packet cache and subscribers' NACKs work on
// what subscribers receive. A gap in the input stays a gap of the same size
// in the output (sinks see the loss); late and repeated input is dropped.
// It is used by one pushing goroutine (Track.Push), which owns its fields.
type h264Repacketizer struct {
	started bool
	inSeq   uint16
	outSeq  uint16
	buf     []byte
	units   [][]byte
}

// push re-packetizes pkt and hands each resulting packet to emit, which must
// not keep it.
func (r *h264Repacketizer) push(pkt *rtp.Packet, emit func(*rtp.Packet)) {
	if r.started {
		diff := int16(pkt.SequenceNumber - r.inSeq)
		if diff <= 0 {
			return
		}
		r.outSeq += uint16(diff - 1)
	}
	r.started, r.inSeq = true, pkt.SequenceNumber
	out := rtp.Packet{Header: pkt.Header}
	send := func(payload []byte, last bool) {
		out.SequenceNumber = r.outSeq
		r.outSeq++
		out.Marker = pkt.Marker && last
		out.Payload = payload
		emit(&out)
	}
	r.packets(pkt.Payload, send)
}

// packets cuts payload p into packets of at most maxPayload bytes and hands
// each to send, with last set on the final one.
func (r *h264Repacketizer) packets(p []byte, send func([]byte, bool)) {
	if len(p) <= maxPayload {
		send(p, true)
		return
	}
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23:
		r.fragment(p[0]&0xe0, t, p[1:], true, true, true, send)
	case t == naluFUA:
		r.fragment(p[0]&0xe0, p[1]&0x1f, p[2:], p[1]&0x80 != 0, p[1]&0x40 != 0, true, send)
	case t == naluSTAPA:
		if !r.split(p, send) {
			send(p, true) // malformed: passed on as it came
		}
	default:
		send(p, true) // STAP-B, MTAP and FU-B are not in packetization mode 1
	}
}

// fragment sends data, all or part of a NAL unit without its header byte,
// as FU-A packets. fnri holds the unit's F and NRI bits and nalType its type;
// start and end say whether data begins and ends the unit; last says
// whether its final packet is the last of the input packet (the marker).
func (r *h264Repacketizer) fragment(fnri, nalType byte, data []byte, start, end, last bool, send func([]byte, bool)) {
	r.fragmentBy(maxPayload-2, fnri, nalType, data, start, end, last, send)
}

// fragmentBy is fragment with at most size bytes of data a packet.
func (r *h264Repacketizer) fragmentBy(size int, fnri, nalType byte, data []byte, start, end, last bool, send func([]byte, bool)) {
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), size)
		fu := nalType
		if first && start {
			fu |= 0x80
		}
		final := n == len(data)
		if final && end {
			fu |= 0x40
		}
		r.buf = append(append(r.buf[:0], fnri|naluFUA, fu), data[:n]...)
		data = data[n:]
		send(r.buf, last && final)
	}
}

// split sends the NAL units of a STAP-A in as few packets as fit, or reports
// false if the STAP-A is malformed.
func (r *h264Repacketizer) split(p []byte, send func([]byte, bool)) bool {
	if !r.parseSTAP(p) {
		return false
	}
	for i := 0; i < len(r.units); {
		// Units i..j-1 fit in one STAP-A.
		j, size := i, 1
		for j < len(r.units) && size+2+len(r.units[j]) <= maxPayload {
			size += 2 + len(r.units[j])
			j++
		}
		switch {
		case j == i: // a unit too large for any packet
			u := r.units[i]
			r.fragment(u[0]&0xe0, u[0]&0x1f, u[1:], true, true, i == len(r.units)-1, send)
			j = i + 1
		case j == i+1:
			send(r.units[i], j == len(r.units))
		default:
			var nri byte
			for _, u := range r.units[i:j] {
				nri = max(nri, u[0]&0x60)
			}
			r.buf = append(r.buf[:0], naluSTAPA|nri)
			for _, u := range r.units[i:j] {
				r.buf = append(r.buf, byte(len(u)>>8), byte(len(u)))
				r.buf = append(r.buf, u...)
			}
			send(r.buf, j == len(r.units))
		}
		i = j
	}
	return true
}

// parseSTAP reads the NAL units of STAP-A p into r.units, or reports false if
// p is malformed.
func (r *h264Repacketizer) parseSTAP(p []byte) bool {
	r.units = r.units[:0]
	for i := 1; i < len(p); {
		if i+2 > len(p) {
			return false
		}
		size := int(p[i])<<8 | int(p[i+1])
		i += 2
		if size == 0 || i+size > len(p) {
			return false
		}
		r.units = append(r.units, p[i:i+size])
		i += size
	}
	return len(r.units) > 0
}
