package cascade

import (
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// feed is one layer (or the audio) of a relayed track as the edge's SFU
// reads it: the packets of whichever pull carries the layer now, renumbered
// so that the layer is one stream across pulls (a layer dropped and pulled
// again, by dynacast, comes on a new SSRC with new sequence numbers and
// timestamps). The local SFU's reader goroutine calls Read; attach, detach
// and close come from the edge. Its fields are guarded by mu.
type feed struct {
	// ssrc names the layer to the local SFU, whatever the pull's SSRC.
	ssrc  uint32
	clock uint32
	wake  chan struct{}
	// bytes counts what the feed received (Edges' metrics).
	bytes *atomic.Uint64

	mu     sync.Mutex
	closed bool
	// cur is the pull's track carrying the layer now, nil between pulls;
	// gen counts attaches, so that a failed read detaches only its own.
	cur *webrtc.TrackRemote
	pc  *webrtc.PeerConnection
	gen int
	seq seqMap
}

func newFeed(ssrc, clock uint32, bytes *atomic.Uint64) *feed {
	return &feed{ssrc: ssrc, clock: clock, bytes: bytes, wake: make(chan struct{}, 1)}
}

// seqMap maps one pull's sequence numbers and timestamps onto the layer's
// (RFC 3550 section 5.1: one SSRC, one sequence). fresh is set at each
// attach: the pull's first packet continues from the layer's last.
type seqMap struct {
	started, fresh bool
	seqOff         uint16
	tsOff          uint32
	// first is the layer's number of the current pull's first packet: NACKs
	// for older packets belong to a pull that is gone.
	first  uint16
	last   uint16
	lastTS uint32
	lastAt time.Time
}

// rewrite maps a packet of the current pull, in place, and returns false for
// a packet too short to be RTP.
func (m *seqMap) rewrite(b []byte, ssrc, clock uint32, now time.Time) bool {
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	seq := binary.BigEndian.Uint16(b[2:4])
	ts := binary.BigEndian.Uint32(b[4:8])
	if m.fresh {
		m.fresh = false
		if m.started {
			gap := uint32(1)
			if clock > 0 {
				gap = max(1, uint32(now.Sub(m.lastAt).Seconds()*float64(clock)))
			}
			m.seqOff = m.last + 1 - seq
			m.tsOff = m.lastTS + gap - ts
		}
		m.first = seq + m.seqOff
	}
	out, outTS := seq+m.seqOff, ts+m.tsOff
	if !m.started || int16(out-m.last) > 0 {
		m.last, m.lastTS, m.lastAt = out, outTS, now
	}
	m.started = true
	binary.BigEndian.PutUint16(b[2:4], out)
	binary.BigEndian.PutUint32(b[4:8], outTS)
	binary.BigEndian.PutUint32(b[8:12], ssrc)
	return true
}

// source returns the current pull's number of the layer's packet seq, false
// when it was not received in the current pull.
func (m *seqMap) source(seq uint16) (uint16, bool) {
	if !m.started || m.fresh || int16(seq-m.first) < 0 || int16(seq-m.last) > 0 {
		return 0, false
	}
	return seq - m.seqOff, true
}

// attach makes remote, a track of pc, the layer's source from now on.
func (f *feed) attach(remote *webrtc.TrackRemote, pc *webrtc.PeerConnection) {
	f.mu.Lock()
	f.cur, f.pc = remote, pc
	f.gen++
	f.seq.fresh = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// detach forgets the pull pc, if it is the current one.
func (f *feed) detach(pc *webrtc.PeerConnection) {
	f.mu.Lock()
	if f.pc == pc {
		f.cur, f.pc = nil, nil
	}
	f.mu.Unlock()
}

// close makes Read return io.EOF once the current pull's read returns (its
// connection must be closing).
func (f *feed) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Read returns the layer's next packet, renumbered, waiting for a pull while
// none carries the layer. It implements what sfu.Track.AddRelayLayer reads.
func (f *feed) Read(b []byte) (int, interceptor.Attributes, error) {
	for {
		f.mu.Lock()
		closed, cur, gen := f.closed, f.cur, f.gen
		f.mu.Unlock()
		if closed && cur == nil {
			return 0, nil, io.EOF
		}
		if cur == nil {
			<-f.wake
			continue
		}
		n, attrs, err := cur.Read(b)
		if err != nil {
			f.mu.Lock()
			if f.gen == gen {
				f.cur, f.pc = nil, nil
			}
			f.mu.Unlock()
			continue
		}
		f.mu.Lock()
		ok := f.gen == gen && f.seq.rewrite(b[:n], f.ssrc, f.clock, time.Now())
		f.mu.Unlock()
		if ok {
			f.bytes.Add(uint64(n))
			return n, attrs, nil
		}
	}
}

// pli asks the current pull for a keyframe of the layer (RFC 4585 section
// 6.3.1): the owner's WHEP sender turns it into a keyframe request to the
// publisher.
func (f *feed) pli() {
	f.mu.Lock()
	cur, pc := f.cur, f.pc
	f.mu.Unlock()
	if cur == nil {
		return
	}
	_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(cur.SSRC())}})
}

// nack asks the current pull again for the packets n names in the layer's
// numbering (RFC 4585 section 6.2.1); the owner answers from its cache.
// Packets of an earlier pull cannot be had again and are left out.
func (f *feed) nack(n *rtcp.TransportLayerNack) {
	f.mu.Lock()
	cur, pc := f.cur, f.pc
	var seqs []uint16
	for _, p := range n.Nacks {
		for _, s := range p.PacketList() {
			if src, ok := f.seq.source(s); ok {
				seqs = append(seqs, src)
			}
		}
	}
	f.mu.Unlock()
	if cur == nil || len(seqs) == 0 {
		return
	}
	_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{SenderSSRC: n.SenderSSRC, MediaSSRC: uint32(cur.SSRC()),
		Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}})
}
