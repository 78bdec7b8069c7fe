package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// cacheSize is how many recent packets of a layer are kept for retransmission:
// about two seconds of HD video.
const cacheSize = 512

// packetCache keeps one layer's recent packets so that any subscriber's NACK
// (RFC 4585 section 6.2.1) can be answered from one shared copy, instead of a
// copy per subscriber. The layer's reader writes it; subscribers' RTCP
// goroutines read it; mu guards the slots.
type packetCache struct {
	mu    sync.RWMutex
	slots [cacheSize]cacheSlot
}

type cacheSlot struct {
	valid   bool
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte
}

// put stores a copy of pkt.
func (c *packetCache) put(pkt *rtp.Packet) {
	c.mu.Lock()
	s := &c.slots[pkt.SequenceNumber%cacheSize]
	s.valid, s.seq, s.ts, s.marker = true, pkt.SequenceNumber, pkt.Timestamp, pkt.Marker
	s.payload = append(s.payload[:0], pkt.Payload...)
	c.mu.Unlock()
}

// get copies the packet with sequence number seq into buf, if it is still kept.
func (c *packetCache) get(seq uint16, buf []byte) (ts uint32, marker bool, payload []byte, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &c.slots[seq%cacheSize]
	if !s.valid || s.seq != seq {
		return 0, false, nil, false
	}
	return s.ts, s.marker, append(buf[:0], s.payload...), true
}

// epoch is a stretch of a subscriber's outgoing stream taken from one layer
// with one pair of offsets; a NACKed outgoing sequence number maps back to the
// source packet through the epoch it falls in.
type epoch struct {
	outStart uint16
	layer    int
	seqOff   uint16
	tsOff    uint32
	// picOff and tl0Off renumber a VP8 or VP9 layer's pictures (pictures.go).
	picOff uint16
	tl0Off uint8
}

// maxEpochs is how many switches (and padding runs, which take two: the
// padding, then media again) back a NACK can still be answered.
const maxEpochs = 16

// addEpoch records that packets from outStart on come from layer with the
// current offsets. Called with d.mu held.
func (d *downTrack) addEpoch(outStart uint16, layer int) {
	d.epochs[d.nEpochs%maxEpochs] = epoch{outStart: outStart, layer: layer, seqOff: d.seqOff, tsOff: d.tsOff, picOff: d.pics.picOff, tl0Off: d.pics.tl0Off}
	d.nEpochs++
}

// source maps an outgoing sequence number to its epoch. Called with d.mu held.
func (d *downTrack) source(out uint16) (epoch, bool) {
	for i := 0; i < min(d.nEpochs, maxEpochs); i++ {
		e := d.epochs[(d.nEpochs-1-i)%maxEpochs]
		if int16(out-e.outStart) >= 0 {
			return e, true
		}
	}
	return epoch{}, false
}

// rtxLimit is how many times one packet is resent to one subscriber, and
// rtxSpacing the least time between two resends: a subscriber that keeps
// asking (its answer lost, or it is too slow to take it) cannot make the
// SFU resend without end.
// rtxMaxAge is how old (in media time, behind the last packet sent) a
// packet may be and still be resent: later it comes after the receiver's
// jitter buffer has given up on it.
// A subscriber that asks again rtxGiveUp after the last resend did not get
// any of them: the packet is unrepairable.
const (
	rtxLimit   = 3
	rtxSpacing = 50 * time.Millisecond
	rtxMaxAge  = 500 * time.Millisecond
	rtxGiveUp  = 200 * time.Millisecond
)

// rtxRecord is when an outgoing sequence number was last resent and how often.
type rtxRecord struct {
	seq   uint16
	count uint8
	at    int64
}

// retransmit queues the NACKed packets still in the cache, on the RTX stream
// (RFC 4588) when one was negotiated, else on the media stream. They go
// through the subscriber's send queue, paced and dropped when old like media.
func (d *downTrack) retransmit(seqs []uint16) {
	b := d.bound.Load()
	q := d.sub.out.Load()
	if b == nil || q == nil || q.behind() {
		return
	}
	maxAge := uint32(rtxMaxAge.Seconds() * float64(max(d.track.codec.ClockRate, 1)))
	buf := make([]byte, 0, 1500)
	now := time.Now().UnixNano()
	for _, out := range seqs {
		d.mu.Lock()
		if !d.started || int16(d.lastSeq-out) < 0 {
			d.mu.Unlock()
			continue
		}
		r := &d.rtx[out%cacheSize]
		if r.seq == out && r.at != 0 && (r.count >= rtxLimit || now-r.at < int64(rtxSpacing)) {
			gone := r.count >= rtxLimit && now-r.at >= int64(rtxGiveUp)
			d.mu.Unlock()
			if gone {
				d.unrepairable()
			}
			continue
		}
		if r.seq != out || r.at == 0 {
			*r = rtxRecord{seq: out}
		}
		r.count++
		r.at = now
		e, ok := d.source(out)
		d.mu.Unlock()
		if !ok {
			continue
		}
		l := d.track.layerAt(e.layer)
		if l == nil {
			continue
		}
		ts, marker, payload, ok := l.cache.get(out-e.seqOff, buf)
		if !ok {
			// If the SFU is itself waiting for the packet, it is sent
			// when it comes (Track.repair).
			l.nack.await(l.sourceSeq(out-e.seqOff), d, out)
			continue
		}
		d.mu.Lock()
		old := d.lastTS - (ts + e.tsOff)
		d.mu.Unlock()
		if int32(old) > int32(maxAge) {
			continue
		}
		if d.pics.fields != nil {
			renumberPictures(d.pics.fields, payload, e.picOff, e.tl0Off)
		}
		h := rtp.Header{Version: 2, Marker: marker, PayloadType: b.pt, SequenceNumber: out, Timestamp: ts + e.tsOff, SSRC: b.ssrc}
		if b.rtxSSRC != 0 {
			// RTX payload: the original sequence number, then the original payload.
			payload = append([]byte{byte(out >> 8), byte(out)}, payload...)
			h.SSRC, h.PayloadType, h.SequenceNumber = b.rtxSSRC, b.rtxPT, uint16(d.rtxSeq.Add(1))
		}
		q.push(d, b, &h, payload, false)
		d.track.owner.room.sfu.stats.retransmitted.Add(1)
		buf = payload[:0]
	}
}
