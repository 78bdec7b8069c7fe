package sfu

import (
	"fmt"
	"log/slog"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// Cascade (docs/architecture.md "Across nodes"): a node that is not a room's
// owner serves the room's WebRTC viewers from an edge room, a room of its own
// in which one relay participant publishes the tracks it pulls from the owner
// (package cascade). The owner sees each pull as a WHEP viewer pinned to one
// simulcast layer (ViewLayer); the edge presents the pulled layers as the
// layers of one local track (PublishRelay, AddRelayLayer), so that its
// subscribers' layer choice, allocation, dynacast (which then tells the
// relay which layers to pull), loss repair and keyframe requests work as for
// a local publisher.

// KindEdge is the kind of an edge room's relay participant.
const KindEdge = "edge"

// noLayer is the target of a pinned downTrack whose track has no layer of
// the pinned rank: nothing is forwarded.
const noLayer = 8

// rtpReader is what a layer's reader reads RTP packets from.
type rtpReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// EdgeRoom returns the edge room id, creating it with opts when it has no one
// in it. An edge room is apart from the node's own rooms: LiveRoom, HasMedia,
// MediaRooms, EndRoom and the programs never see it (its media lives on
// another node); watchers (webhooks) hear of its viewers only (Room.watch).
func (s *SFU) EdgeRoom(id string, opts RoomOptions) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	r, ok := s.edges[id]
	if !ok {
		r = newRoom(s, id, opts)
		r.edge = true
		s.edges[id] = r
		s.log.Info("edge room opened", "room", id)
	}
	r.setOptions(opts)
	return r, nil
}

// registry is the map r is registered in. Called with s.mu held.
func (s *SFU) registry(r *Room) map[string]*Room {
	if r.edge {
		return s.edges
	}
	return s.rooms
}

// Edge reports whether r is a cascade edge's room.
func (r *Room) Edge() bool { return r.edge }

// watch hands ev to the SFU's watchers. An edge room reports its viewers
// joining and leaving (they watch the room, on this node), not its relay
// and the relay's tracks: the room's tracks are the owner node's to report.
func (r *Room) watch(ev Event) {
	if r.edge {
		switch {
		case ev.Type != EventParticipantJoined && ev.Type != EventParticipantLeft:
			return
		case ev.Participant != nil && ev.Participant.Kind == KindEdge:
			return
		}
		ev.Edge = true
	}
	r.sfu.watch(ev)
}

// RelaySpec describes a track an edge's relay participant publishes: its
// codec, as negotiated with the owner, and how to reach the owner for loss
// repair and keyframes. PLI and NACK get the SSRC a layer was added with
// (AddRelayLayer) and NACKs in the layer's numbering.
type RelaySpec struct {
	Kind   webrtc.RTPCodecType
	Codec  webrtc.RTPCodecParameters
	Source string
	PLI    func(ssrc uint32)
	NACK   func(*rtcp.TransportLayerNack)
	// Stop makes every layer's Read return; the track calls it when it
	// closes, before waiting for its readers.
	Stop func()
}

// PublishRelay publishes a relayed track into the participant's room. Its
// layers are added with AddRelayLayer.
func (p *Participant) PublishRelay(spec RelaySpec) (*Track, error) {
	if !p.Permissions().Has(access.Publish) {
		return nil, ErrNoPublish
	}
	t := newTrack(newID("TR_"), p, spec.Kind, spec.Codec, spec.Source, spec.PLI)
	t.nack, t.stop = spec.NACK, spec.Stop
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.published[t.id] = t
	p.mu.Unlock()
	p.log.Info("relay track published", "track", t.id, "kind", spec.Kind.String(), "codec", spec.Codec.MimeType)
	p.room.addTrack(t)
	return t, nil
}

// AddRelayLayer adds the layer rid (q, h or f) of a relayed track, read from
// src until its Read fails. ssrc names the layer in PLI and NACK calls. The
// owner has already cut H.264 to WebRTC-sized packets: it is not cut again.
func (t *Track) AddRelayLayer(rid string, ssrc uint32, src interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}) {
	t.startLayer(&layer{rid: rid, ssrc: ssrc, src: src})
}

// LayerRank returns the rank of a simulcast layer name (0 for the lowest: q,
// l, 0, low; 1: h, m, 1, mid; 2: f, 2, high, hi), or ErrBadLayer.
func LayerRank(rid string) (int, error) {
	if r := ridRank(rid); r < 3 {
		return r, nil
	}
	return 0, fmt.Errorf("%w: %q (want q, h or f)", ErrBadLayer, rid)
}

// ViewLayer is View with the video pinned to one simulcast layer, named as
// LayerRank takes it: the viewer gets that layer of the program's video, or
// no video while the program's video has no such layer (a track without
// simulcast is its own lowest layer), whatever its bandwidth estimate says.
// A cascade edge pulls each layer it needs with one such viewer.
func (p *Participant) ViewLayer(offer, rid string) (string, error) {
	rank, err := LayerRank(rid)
	if err != nil {
		return "", err
	}
	return p.view(offer, rank)
}

// pinTo pins d to the layer of rank pin.
func (d *downTrack) pinTo(pin int) {
	d.auto.Store(false)
	d.pin.Store(int32(pin))
	d.layersChanged()
}

// pinLocked points a pinned d at its layer, or at noLayer when the track has
// none of that rank or the subscriber's tier does not allow it. Called with
// d.mu held.
func (d *downTrack) pinLocked(pin int) {
	i := d.track.layerOfRank(pin)
	if i < 0 || i > d.maxLay {
		d.target = noLayer
		d.manual.Store(0)
		return
	}
	d.target = i
	d.manual.Store(int32(i))
}

// layerOfRank is the index of the layer of rank, or -1. A track's first
// layer is rank 0 whatever its name (a track without simulcast has one,
// unnamed).
func (t *Track) layerOfRank(rank int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rank == 0 && len(t.layers) > 0 {
		return 0
	}
	for i, l := range t.layers {
		if i > 0 && ridRank(l.rid) == rank {
			return i
		}
	}
	return -1
}

// End closes every participant of the room with reason: an edge room whose
// edge ends tells its subscribers why, so that they connect again.
func (r *Room) End(reason string) { r.closeAll(reason) }

// TakenLayers reports, by layer index, which layers some sink of the track
// takes or may soon take: the layer it forwards, the one it switches to,
// and the highest its caps allow (dynacast's wish). A sink that is not a
// subscriber takes every layer. Unlike dynacast, which can only pause a
// publisher's layers above a point, a cascade edge pulls exactly these.
func (t *Track) TakenLayers() []bool {
	n := t.layerCount()
	taken := make([]bool, n)
	mark := func(i int) {
		if i >= 0 && i < n {
			taken[i] = true
		}
	}
	for _, s := range *t.sinks.Load() {
		d, ok := s.(*downTrack)
		if !ok {
			for i := range taken {
				taken[i] = true
			}
			continue
		}
		if d.paused.Load() {
			continue
		}
		cur, target := d.layers()
		mark(cur)
		mark(target)
		mark(d.wantedLayer(n))
	}
	return taken
}

// LayerRID returns the name of layer i, "" when there is none.
func (t *Track) LayerRID(i int) string {
	if l := t.layerAt(i); l != nil {
		return l.rid
	}
	return ""
}

// PionLogger routes pion's logs into log at warn and above, as the SFU's
// own peer connections do: for the pulls of a cascade edge.
func PionLogger(log *slog.Logger) logging.LoggerFactory { return pionLogger(log) }
