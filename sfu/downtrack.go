package sfu

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// downTrack forwards one published track to one subscriber. It implements
// webrtc.TrackLocal so that pion binds it to the subscriber's RTP sender. The
// forwarding state (layer, sequence and timestamp offsets) is guarded by mu:
// every layer's reader writes through it.
type downTrack struct {
	track *Track
	sub   *Participant
	// streamID groups a publisher's tracks in the subscriber's SDP (msid).
	streamID string

	bound  atomic.Pointer[binding]
	paused atomic.Bool
	// auto is true while the layer follows network conditions, not a request.
	auto atomic.Bool
	// pin is the layer rank a cascade edge's pull is pinned to (edge.go), -1
	// when not pinned: neither the allocator nor padding touch a pinned track.
	pin atomic.Int32

	mu      sync.Mutex
	current int // forwarded layer, -1 before the first keyframe
	target  int // wanted layer
	maxLay  int // highest layer the subscriber's tier allows
	// subTier and roomTier decide maxLay as layers come and go.
	subTier, roomTier access.Tier
	// calm counts low-loss reports (adapt.go).
	calm    int
	waiting bool
	// askedAt is when a keyframe of the target layer was last asked for while
	// waiting for one: a lost keyframe or an ignored request is asked again.
	askedAt time.Time
	seqOff  uint16
	tsOff   uint32
	// pics renumbers a VP8 or VP9 track's pictures across switches (pictures.go);
	// scratch holds a renumbered payload on its way to the send queue.
	pics    pictureNumbers
	scratch []byte
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time
	// lastMarker is the marker bit of the last packet: a frame ended there.
	lastMarker bool
	started    bool
	sender     *webrtc.RTPSender
	// epochs map outgoing sequence numbers back to cached source packets.
	epochs  [maxEpochs]epoch
	nEpochs int
	// rtx limits resends per outgoing sequence number (cache.go).
	rtx    [cacheSize]rtxRecord
	rtxSeq atomic.Uint32
	// bwPaused is set while the allocator pauses the track for lack of
	// bandwidth; manual is the layer chosen by hand (-1: auto), a cap;
	// viewHeight is the height the client renders the track at (0: unknown).
	bwPaused   atomic.Bool
	manual     atomic.Int32
	viewHeight atomic.Int32
	// dropKF is when a queue drop last asked for a keyframe (unix nanoseconds).
	dropKF atomic.Int64
	// aheadFrom is when the subscriber's join asked for a keyframe ahead, or
	// when the fresh one it took instead arrived (unix nanoseconds, replay.go).
	aheadFrom atomic.Int64
	// upSince is when the allocator first chose a higher layer than the
	// track has (zero: it has not), upLast when it last did; upAt is when
	// the track last moved up (zero once it moved down), downAt when it
	// last moved down, upHold the hold for the next move up (steady); all
	// owned by the subscriber's allocator.
	upSince, upLast, upAt, downAt time.Time
	upHold                        time.Duration
	// downSince is when the allocation first put the track a little below
	// its layer (holdDowns; zero: it has not); owned by the allocator.
	downSince time.Time
}

// binding is what pion gives a track when it is negotiated.
type binding struct {
	ssrc  uint32
	pt    uint8
	write webrtc.TrackLocalWriter
	// rtxSSRC and rtxPT are set when RTX (RFC 4588) was negotiated.
	rtxSSRC uint32
	rtxPT   uint8
}

func newDownTrack(t *Track, sub *Participant, subTier, roomTier access.Tier) *downTrack {
	d := &downTrack{track: t, sub: sub, streamID: t.owner.id, current: -1, waiting: true, subTier: subTier, roomTier: roomTier}
	d.pics.fields = pictureFieldsOf(t.codec.MimeType)
	d.auto.Store(true)
	d.manual.Store(-1)
	d.pin.Store(-1)
	d.layersChanged()
	return d
}

// layersChanged recomputes the highest allowed layer when the publisher's
// encodings change; in automatic mode the target follows it. It counts the
// layers under mu (mu before the track's mu, as WriteRTP takes them), so that
// of two calls racing the later one counts last.
func (d *downTrack) layersChanged() {
	d.mu.Lock()
	d.maxLay = layerFor(d.track.layerCount(), d.subTier, d.roomTier)
	if pin := int(d.pin.Load()); pin >= 0 {
		d.pinLocked(pin)
	} else if d.auto.Load() || d.target > d.maxLay {
		d.target = d.maxLay
	}
	d.mu.Unlock()
}

// ID, RID, StreamID and Kind implement webrtc.TrackLocal.
func (d *downTrack) ID() string                { return d.track.id }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.streamID }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.track.kind }

// Bind picks the publisher's codec among those the subscriber negotiated.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	if len(ctx.CodecParameters()) == 0 {
		// The subscriber rejected the section (it cannot receive the codec):
		// nothing is bound, so that the rest of its answer still applies.
		// Participant.Answer tells it why.
		return webrtc.RTPCodecParameters{}, nil
	}
	for _, c := range ctx.CodecParameters() {
		if !codecMatches(d.track.codec, c) {
			continue
		}
		b := &binding{ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), write: ctx.WriteStream()}
		if rtx := ctx.SSRCRetransmission(); rtx != 0 {
			for _, r := range ctx.CodecParameters() {
				if strings.EqualFold(r.MimeType, webrtc.MimeTypeRTX) && fmtpValue(r.SDPFmtpLine, "apt") == strconv.Itoa(int(c.PayloadType)) {
					b.rtxSSRC, b.rtxPT = uint32(rtx), uint8(r.PayloadType)
				}
			}
		}
		d.bound.Store(b)
		d.resync()
		return c, nil
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// codecMatches reports whether a subscriber's negotiated codec c can carry
// packets of the publisher's codec want unchanged.
func codecMatches(want, c webrtc.RTPCodecParameters) bool {
	if !strings.EqualFold(c.MimeType, want.MimeType) {
		return false
	}
	return !strings.EqualFold(want.MimeType, webrtc.MimeTypeH264) ||
		fmtpValue(c.SDPFmtpLine, "packetization-mode") == fmtpValue(want.SDPFmtpLine, "packetization-mode")
}

// Unbind stops writing.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bound.Store(nil)
	return nil
}

// WriteRTP forwards one packet of layer idx. Packets of other layers are dropped;
// a layer switch, a resume or the first packet wait for a keyframe.
func (d *downTrack) WriteRTP(pkt *rtp.Packet, idx int, keyframe bool) {
	b := d.bound.Load()
	if b == nil || d.paused.Load() || d.bwPaused.Load() || !d.sub.subConnected.Load() {
		return
	}
	d.mu.Lock()
	audio := d.track.keyframe == nil
	switch {
	case audio && d.waiting:
		d.startAt(pkt, idx)
		d.current = idx
	case d.waiting || d.target != d.current:
		// The wanted layer is not being sent (an encoder turns its top
		// layers off under load, or dynacast paused it): settle for a lower one.
		settle := idx < d.target && d.auto.Load() && d.track.layerStale(d.target)
		if keyframe && settle {
			d.target = idx
		}
		if idx != d.target || !keyframe {
			if idx != d.current || d.waiting {
				// A packet of the target layer (or of one to settle for,
				// when the target exists but went silent) here is not the
				// awaited keyframe: a lost request or keyframe is asked
				// again. requestKeyframe asks the highest layer being sent.
				// A target layer that has not arrived yet (a simulcast
				// publisher's layers start one by one) is waited for.
				retry := (idx == d.target || (settle && d.track.layerAt(d.target) != nil)) && time.Since(d.askedAt) > keyframeRetry
				target := d.target
				if retry {
					d.askedAt = time.Now()
				}
				d.mu.Unlock()
				if retry {
					d.track.requestKeyframe(target)
				}
				return
			}
			break // keep the old layer until the new one has a keyframe
		}
		d.startAt(pkt, idx)
		d.current = d.target
	case idx != d.current:
		d.mu.Unlock()
		return
	}
	d.sendLocked(b, pkt)
	d.mu.Unlock()
}

// sendLocked queues pkt for the subscriber with the track's offsets applied.
// Called with mu held.
func (d *downTrack) sendLocked(b *binding, pkt *rtp.Packet) {
	seq := pkt.SequenceNumber + d.seqOff
	ts := pkt.Timestamp + d.tsOff
	if d.nEpochs > 0 && int16(seq-d.epochs[(d.nEpochs-1)%maxEpochs].outStart) < 0 {
		return // older than the last switch point: would repeat a sequence number
	}
	// A late packet (a publisher's retransmission) goes out too, in its place.
	newest := !d.started || int16(seq-d.lastSeq) > 0
	if newest {
		d.lastSeq, d.lastTS, d.lastAt, d.lastMarker = seq, ts, time.Now(), pkt.Marker
	}
	payload := d.pics.out(pkt.Payload, &d.scratch, newest)
	d.started = true
	h := pkt.Header
	h.SSRC, h.PayloadType, h.SequenceNumber, h.Timestamp = b.ssrc, b.pt, seq, ts
	h.Extensions, h.Extension, h.ExtensionProfile = nil, false, 0
	h.Padding, h.PaddingSize = false, 0
	// Queued under mu, so that padding (link.go) keeps its place in the sequence.
	if q := d.sub.out.Load(); q != nil {
		q.push(d, b, &h, payload, false)
	}
}

// unrepairable is told that one of the track's packets will not reach the
// subscriber: its queue dropped it for age (the subscriber's NACK may come too
// late), or its resends ran out while the subscriber still asks (they were
// lost too, as on a link that a probe or a keyframe overflowed). A video
// track asks for a keyframe of its layer, at most once per pliInterval:
// otherwise the picture stands still until the receiver gives up on the
// packet (libwebrtc asks for a keyframe after 3 s without a decodable frame).
func (d *downTrack) unrepairable() {
	if d.track.keyframe == nil {
		return
	}
	now := time.Now().UnixNano()
	last := d.dropKF.Load()
	if now-last < int64(pliInterval) || !d.dropKF.CompareAndSwap(last, now) {
		return
	}
	if cur, _ := d.layers(); cur >= 0 {
		d.track.requestKeyframe(cur)
	}
}

// sendError counts a packet the subscriber's connection refused.
func (d *downTrack) sendError() { d.track.owner.room.sfu.stats.sendErrors.Add(1) }

// startAt computes offsets that continue the outgoing sequence and timestamps
// from pkt on, so the subscriber sees one stream across switches and pauses.
func (d *downTrack) startAt(pkt *rtp.Packet, layer int) {
	d.waiting = false
	if !d.started {
		// The first packet goes out with the publisher's numbers.
		d.addEpoch(pkt.SequenceNumber, layer)
		return
	}
	gap := uint32(1)
	if clock := d.track.codec.ClockRate; clock > 0 {
		gap = max(1, uint32(time.Since(d.lastAt).Seconds()*float64(clock)))
	}
	d.seqOff = d.lastSeq + 1 - pkt.SequenceNumber
	d.tsOff = d.lastTS + gap - pkt.Timestamp
	d.pics.rebase(pkt.Payload)
	d.addEpoch(d.lastSeq+1, layer)
}

// resync makes the next forwarded packet a keyframe of the target layer.
func (d *downTrack) resync() {
	d.mu.Lock()
	d.waiting = true
	target := d.target
	d.askedAt = time.Now()
	d.mu.Unlock()
	if target >= noLayer {
		return // pinned to a layer the track does not have
	}
	// Before the subscriber's connection is up a keyframe would be lost
	// (one asked for ahead, when it joined, is kept in the packet cache and
	// replayed once it is up).
	if d.sub.subConnected.Load() && !d.replay(target) {
		d.track.requestKeyframe(target)
	}
}

// setTarget chooses the layer to forward; the switch happens at its next keyframe.
func (d *downTrack) setTarget(i int) {
	d.mu.Lock()
	i = min(max(i, 0), d.maxLay)
	changed := d.target != i
	d.target = i
	if changed {
		d.askedAt = time.Now()
	}
	d.mu.Unlock()
	if changed {
		d.track.requestKeyframe(i)
	}
}

// layerInserted moves the layer positions at and above pos up by one: a layer
// was inserted there. A chosen layer stays the same encoding; in automatic
// mode layersChanged sets the target afterwards.
func (d *downTrack) layerInserted(pos int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	up := func(i int) int {
		if i >= pos {
			return i + 1
		}
		return i
	}
	d.current = up(d.current)
	d.target = up(d.target)
	for i := range d.epochs {
		d.epochs[i].layer = up(d.epochs[i].layer)
	}
}

// layers returns the current and target layer.
func (d *downTrack) layers() (current, target int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current, d.target
}

// fmtpValue returns the value of key in an fmtp line.
func fmtpValue(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}
