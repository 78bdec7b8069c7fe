package sfu

import (
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Track is one published media track, with one layer per simulcast encoding. Its
// reader goroutines (one per layer) are started by addLayer and waited for by
// close. Layers, rooms and the owner's subscriber set are guarded by mu; the
// subscriber list read on every packet is a copy-on-write slice.
type Track struct {
	id     string
	owner  *Participant
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecParameters
	source string
	// keyframe detects keyframes, nil for audio.
	keyframe keyframeFunc
	// pli asks the publisher for a keyframe on an SSRC; nack sends it
	// feedback. Both are nil for pushed tracks.
	pli  func(ssrc uint32)
	nack func(*rtcp.TransportLayerNack)
	// onEnd runs once when the last layer's reader stops.
	onEnd func()
	// stop, if set, makes a relayed track's reads return (edge.go); close
	// calls it before waiting for them.
	stop    func()
	readers atomic.Int32

	// sinks receive every packet: subscribers' downTracks, muxers, RTSP readers.
	sinks atomic.Pointer[[]Sink]
	muted atomic.Bool
	// repack re-packetizes a pushed H.264 track for WebRTC (repacketize.go).
	repack *h264Repacketizer
	// webrtc is false for codecs WebRTC subscribers cannot take (AAC); note says why.
	webrtc bool
	note   string

	// dyn is the dynacast decision (dynacast.go).
	dyn dynacastState

	// order is the publication order in the server, for "first publisher" choices.
	order uint64
	// done is closed once the track is unpublished.
	done    chan struct{}
	endOnce sync.Once

	// addMu serializes addLayer, whose steps take mu and the subscribers' locks in turn.
	addMu sync.Mutex
	// announceMu serializes the track's announcements (published, updated),
	// each of which takes Info under it: the last one a member receives
	// describes the track as it is. Layers that start together announce from
	// several goroutines, and a stale event taken last hid a layer for good.
	announceMu sync.Mutex

	mu     sync.Mutex
	layers []*layer
	rooms  map[*Room]bool
	closed bool
	wg     sync.WaitGroup
}

// layer is one simulcast encoding (or the only one).
type layer struct {
	// index is the layer's position, lowest resolution first.
	index  atomic.Int32
	rid    string
	ssrc   uint32
	remote *webrtc.TrackRemote
	// src is what the reader reads: remote, or a relayed layer's feed.
	src   rtpReader
	bytes atomic.Uint64
	// kf decides keyframe requests (pli.go); nack repairs loss (nack.go).
	kf   keyframeState
	nack nackGenerator
	// lastPacket is when the layer's last packet arrived (unix nanoseconds).
	lastPacket atomic.Int64
	// rate is the measured bitrate in bits per second, updated by the reader.
	rate atomic.Int64
	// cache answers subscribers' NACKs (video only); mark is where its
	// last keyframe starts, for a subscriber's start (replay.go).
	cache packetCache
	mark  keyMark
	// slots re-packetizes an H.264 layer (slots.go); nil for other codecs.
	slots *h264Slots
}

// each hands fn what pkt becomes for subscribers: itself, or the packets an
// H.264 layer's re-packetizer cuts it into.
func (l *layer) each(pkt *rtp.Packet, fn func(*rtp.Packet)) {
	if l.slots == nil {
		fn(pkt)
		return
	}
	l.slots.push(pkt, fn)
}

// sourceSeq is the publisher's sequence number of the packet subscribers know
// by seq, for NACKs to the publisher.
func (l *layer) sourceSeq(seq uint16) uint16 {
	if l.slots == nil {
		return seq
	}
	return l.slots.input(seq)
}

func newTrack(id string, owner *Participant, kind webrtc.RTPCodecType, codec webrtc.RTPCodecParameters, source string, pli func(uint32)) *Track {
	t := &Track{
		id: id, owner: owner, kind: kind, codec: codec, source: source, webrtc: true,
		keyframe: keyframeDetector(codec.MimeType), pli: pli, rooms: make(map[*Room]bool),
		order: trackOrder.Add(1), done: make(chan struct{}),
	}
	t.dyn.sent = -1
	t.sinks.Store(&[]Sink{})
	return t
}

// trackOrder numbers tracks as they are published.
var trackOrder atomic.Uint64

// Done is closed when the track is unpublished.
func (t *Track) Done() <-chan struct{} { return t.done }

// end marks the track unpublished.
func (t *Track) end() { t.endOnce.Do(func() { close(t.done) }) }

// Order is the track's place in publication order across the server.
func (t *Track) Order() uint64 { return t.order }

// staleLayer is how long a layer may be silent before automatic layer choice
// stops waiting for it.
const staleLayer = 500 * time.Millisecond

// layerStale reports whether layer i has sent nothing for staleLayer.
func (t *Track) layerStale(i int) bool {
	l := t.layerAt(i)
	return l == nil || time.Now().UnixNano()-l.lastPacket.Load() > int64(staleLayer)
}

// LayerCount is the number of simulcast layers (1 without simulcast).
func (t *Track) LayerCount() int { return t.layerCount() }

// Sink receives a track's packets. WriteRTP runs on the publisher's goroutine:
// it must not block, and must not keep pkt (or its payload) after returning.
// layer is the simulcast layer, 0 for the lowest or only one.
type Sink interface {
	WriteRTP(pkt *rtp.Packet, layer int, keyframe bool)
}

// AddSink starts sending the track's packets to s.
func (t *Track) AddSink(s Sink) {
	t.mu.Lock()
	next := append(slices.Clone(*t.sinks.Load()), s)
	t.sinks.Store(&next)
	t.mu.Unlock()
	if d, ok := s.(*downTrack); ok {
		// Layers that arrived since d was made told the sinks of then, not d.
		d.layersChanged()
	}
	t.dynacastSoon()
}

// RemoveSink stops sending to s.
func (t *Track) RemoveSink(s Sink) {
	t.mu.Lock()
	next := slices.DeleteFunc(slices.Clone(*t.sinks.Load()), func(x Sink) bool { return x == s })
	t.sinks.Store(&next)
	t.mu.Unlock()
	t.dynacastSoon()
}

// Codec is the track's negotiated codec.
func (t *Track) Codec() webrtc.RTPCodecParameters { return t.codec }

// Kind is audio or video.
func (t *Track) Kind() webrtc.RTPCodecType { return t.kind }

// Source is camera, microphone, screen or screen_audio.
func (t *Track) Source() string { return t.source }

// Owner is the participant publishing the track.
func (t *Track) Owner() *Participant { return t.owner }

// ID is the track's ID, unique in the server.
func (t *Track) ID() string { return t.id }

// Info describes the track for events.
func (t *Track) Info() TrackInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	info := TrackInfo{
		ID: t.id, Participant: t.owner.id, Kind: t.kind.String(), Source: t.source,
		Codec: strings.TrimPrefix(strings.ToLower(t.codec.MimeType), "video/"), Muted: t.muted.Load(),
		WebRTC: t.webrtc, Note: t.note,
	}
	info.Codec = strings.TrimPrefix(info.Codec, "audio/")
	if len(t.layers) > 1 {
		for _, l := range t.layers {
			info.Layers = append(info.Layers, l.rid)
		}
	}
	return info
}

// addLayer starts forwarding one encoding of the track. Layers are kept in
// resolution order; one that arrives after a higher one (the encodings' first
// packets race) moves the higher ones up a place, and every subscriber's
// layer positions are moved first, so that a packet read with an old position
// is dropped rather than taken for another layer's.
func (t *Track) addLayer(remote *webrtc.TrackRemote) {
	l := &layer{rid: remote.RID(), ssrc: uint32(remote.SSRC()), remote: remote, src: remote}
	if strings.EqualFold(t.codec.MimeType, webrtc.MimeTypeH264) {
		l.slots = &h264Slots{}
	}
	t.startLayer(l)
}

// startLayer adds l (see addLayer) and starts its reader.
func (t *Track) startLayer(l *layer) {
	t.addMu.Lock()
	defer t.addMu.Unlock()
	t.mu.Lock()
	pos, n := t.layerPosition(l), len(t.layers)
	t.mu.Unlock()
	if pos < n {
		for _, s := range *t.sinks.Load() {
			if d, ok := s.(*downTrack); ok {
				d.layerInserted(pos)
			}
		}
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	n = t.insertLayer(l)
	t.wg.Add(1)
	t.readers.Add(1)
	t.mu.Unlock()
	t.layersChanged()
	if n > 1 {
		// Subscribers can now choose the new layer.
		go t.owner.announceTrack(t)
	}
	go t.read(l)
}

// layerPosition is where l goes among the layers: after every one of lower
// or equal rank. Called with mu held.
func (t *Track) layerPosition(l *layer) int {
	pos := 0
	for pos < len(t.layers) && ridRank(t.layers[pos].rid) <= ridRank(l.rid) {
		pos++
	}
	return pos
}

// insertLayer adds l in resolution order and returns the layer count. Called with mu held.
func (t *Track) insertLayer(l *layer) int {
	t.layers = slices.Insert(t.layers, t.layerPosition(l), l)
	for i, x := range t.layers {
		x.index.Store(int32(i))
	}
	return len(t.layers)
}

// layersChanged tells every subscriber how many layers there are now.
func (t *Track) layersChanged() {
	for _, s := range *t.sinks.Load() {
		if d, ok := s.(*downTrack); ok {
			d.layersChanged()
		}
	}
}

// ridRank orders simulcast RIDs from the lowest resolution: the names browsers
// and libraries use (q/h/f, l/m/h, 0/1/2), anything else last.
func ridRank(rid string) int {
	switch rid {
	case "q", "l", "0", "low":
		return 0
	case "h", "m", "1", "mid":
		return 1
	case "f", "2", "high", "hi":
		return 2
	}
	return 3
}

// layerCount is the number of encodings.
func (t *Track) layerCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.layers)
}

// layerAt returns layer i, or nil.
func (t *Track) layerAt(i int) *layer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < 0 || i >= len(t.layers) {
		return nil
	}
	return t.layers[i]
}

// read forwards the packets of one layer to every subscriber until the
// publisher stops sending. It never blocks on a subscriber: each write goes
// straight to that subscriber's SRTP stream and UDP socket.
func (t *Track) read(l *layer) {
	defer t.wg.Done()
	defer func() {
		if t.readers.Add(-1) == 0 && t.onEnd != nil {
			t.onEnd()
		}
	}()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	var repair nackResult
	windowStart, windowBytes := time.Now(), uint64(0)
	received := &t.owner.room.sfu.stats.received
	forward := func(p *rtp.Packet) { t.forward(p, l) }
	for {
		n, _, err := l.src.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.owner.log.Debug("track read ended", "track", t.id, "rid", l.rid, "err", err)
			}
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		l.bytes.Add(uint64(n))
		received.Add(1)
		if now := time.Now(); now.Sub(windowStart) >= time.Second {
			total := l.bytes.Load()
			l.rate.Store(int64(float64(total-windowBytes) * 8 / now.Sub(windowStart).Seconds()))
			windowStart, windowBytes = now, total
		}
		if t.repair(l, &pkt, &repair) {
			l.each(&pkt, forward)
		}
	}
}

// forward hands one packet of layer l to every sink, unless the track is muted.
func (t *Track) forward(pkt *rtp.Packet, l *layer) {
	now := time.Now()
	l.lastPacket.Store(now.UnixNano())
	if t.muted.Load() {
		return
	}
	idx := int(l.index.Load())
	key := false
	if t.keyframe != nil {
		key = t.keyframe(pkt.Payload)
		l.cache.put(pkt)
		l.mark.mark(pkt, key, now)
		if key {
			l.keyframeSeen(pkt.Timestamp, now)
		}
	}
	for _, s := range *t.sinks.Load() {
		s.WriteRTP(pkt, idx, key)
	}
}

// setMuted stops or resumes forwarding; on resume every subscriber waits for a
// keyframe, which is requested.
func (t *Track) setMuted(muted bool) bool {
	if t.muted.Swap(muted) == muted {
		return false
	}
	if !muted {
		for _, s := range *t.sinks.Load() {
			if d, ok := s.(*downTrack); ok {
				d.resync()
			}
		}
	}
	return true
}

// close ends forwarding and waits for the readers. The publisher's peer
// connection must be closing so that the reads return.
func (t *Track) close() {
	t.mu.Lock()
	t.closed = true
	layers := slices.Clone(t.layers)
	t.mu.Unlock()
	for _, l := range layers {
		l.stopKeyframes()
	}
	if t.stop != nil {
		t.stop()
	}
	t.wg.Wait()
}

// pliFor returns a function sending PLI for an SSRC on pc.
func pliFor(pc *webrtc.PeerConnection) func(uint32) {
	return func(ssrc uint32) {
		_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

// nackFor returns a function sending NACKs on pc.
func nackFor(pc *webrtc.PeerConnection) func(*rtcp.TransportLayerNack) {
	return func(n *rtcp.TransportLayerNack) { _ = pc.WriteRTCP([]rtcp.Packet{n}) }
}
