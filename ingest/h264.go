package ingest

import (
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// paramInjector makes every H.264 keyframe decodable on its own: many encoders
// send SPS and PPS only in the SDP, but a WebRTC or HLS viewer that joins late
// needs them in-band before the IDR. It inserts one STAP-A (RFC 6184 section
// 5.7.1) with the latest SPS and PPS before each IDR that lacks them, and
// renumbers the sequence so the stream stays gapless. It runs on one session's
// packet goroutine and owns its fields.
type paramInjector struct {
	sps, pps []byte
	seq      uint16
	started  bool
	// sawSPS and sawPPS say whether the current access unit carried them.
	sawSPS, sawPPS bool
	lastTS         uint32
	next           func(*rtp.Packet)
}

func newParamInjector(f *format.H264, next func(*rtp.Packet)) *paramInjector {
	sps, pps := f.SafeParams()
	return &paramInjector{sps: sps, pps: pps, next: next}
}

func (p *paramInjector) push(pkt *rtp.Packet) {
	if len(pkt.Payload) == 0 {
		return
	}
	if !p.started || pkt.Timestamp != p.lastTS {
		p.sawSPS, p.sawPPS = false, false
		p.lastTS = pkt.Timestamp
	}
	p.started = true
	p.learn(pkt.Payload)
	if startsIDR(pkt.Payload) && !(p.sawSPS && p.sawPPS) && len(p.sps) > 0 && len(p.pps) > 0 {
		stap := *pkt
		stap.Marker = false
		stap.Payload = stapA(p.sps, p.pps)
		p.emit(&stap)
		p.sawSPS, p.sawPPS = true, true
	}
	p.emit(pkt)
}

// emit forwards pkt with the injector's own sequence numbers.
func (p *paramInjector) emit(pkt *rtp.Packet) {
	h := pkt.Header
	h.SequenceNumber = p.seq
	p.seq++
	out := rtp.Packet{Header: h, Payload: pkt.Payload}
	p.next(&out)
}

// learn records in-band SPS and PPS, single or aggregated.
func (p *paramInjector) learn(payload []byte) {
	switch payload[0] & 0x1f {
	case 7:
		p.sps = append([]byte(nil), payload...)
		p.sawSPS = true
	case 8:
		p.pps = append([]byte(nil), payload...)
		p.sawPPS = true
	case 24:
		for i := 1; i+2 < len(payload); {
			size := int(payload[i])<<8 | int(payload[i+1])
			i += 2
			if size == 0 || i+size > len(payload) {
				return
			}
			p.learn(payload[i : i+size])
			i += size
		}
	}
}

// startsIDR reports whether the payload begins an IDR picture.
func startsIDR(payload []byte) bool {
	switch t := payload[0] & 0x1f; t {
	case 5:
		return true
	case 28:
		return len(payload) > 1 && payload[1]&0x80 != 0 && payload[1]&0x1f == 5
	}
	return false
}

// stapA aggregates NAL units into one STAP-A payload.
func stapA(nalus ...[]byte) []byte {
	n := 1
	for _, u := range nalus {
		n += 2 + len(u)
	}
	out := make([]byte, 0, n)
	out = append(out, 24|nalus[0][0]&0x60) // F=0, NRI from the first unit
	for _, u := range nalus {
		out = append(out, byte(len(u)>>8), byte(len(u)))
		out = append(out, u...)
	}
	return out
}
