package sfu

import (
	"sync"

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
}

// maxEpochs is how many switches back a NACK can still be answered.
const maxEpochs = 4

// addEpoch records that packets from outStart on come from layer with the
// current offsets. Called with d.mu held.
func (d *downTrack) addEpoch(outStart uint16, layer int) {
	d.epochs[d.nEpochs%maxEpochs] = epoch{outStart: outStart, layer: layer, seqOff: d.seqOff, tsOff: d.tsOff}
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

// retransmit resends the NACKed packets still in the cache, on the RTX stream
// (RFC 4588) when one was negotiated, else on the media stream.
func (d *downTrack) retransmit(seqs []uint16) {
	b := d.bound.Load()
	if b == nil {
		return
	}
	buf := make([]byte, 0, 1500)
	for _, out := range seqs {
		d.mu.Lock()
		if !d.started || int16(d.lastSeq-out) < 0 {
			d.mu.Unlock()
			continue
		}
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
			l.nack.await(out-e.seqOff, d, out)
			continue
		}
		h := rtp.Header{Version: 2, Marker: marker, PayloadType: b.pt, SequenceNumber: out, Timestamp: ts + e.tsOff, SSRC: b.ssrc}
		if b.rtxSSRC != 0 {
			// RTX payload: the original sequence number, then the original payload.
			payload = append([]byte{byte(out >> 8), byte(out)}, payload...)
			h.SSRC, h.PayloadType, h.SequenceNumber = b.rtxSSRC, b.rtxPT, uint16(d.rtxSeq.Add(1))
		}
		if _, err := b.write.WriteRTP(&h, payload); err == nil {
			d.track.owner.room.sfu.stats.retransmitted.Add(1)
		}
		buf = payload[:0]
	}
}
