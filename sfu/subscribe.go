package sfu

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// Answer applies the client's answer to the server's last subscriber offer and
// starts the next negotiation if subscriptions changed meanwhile. An answer
// that rejects a section carrying a track (a client that cannot receive the
// room's codec) is applied, and a *CodecError says what the room sends.
func (p *Participant) Answer(answer string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sub == nil || !p.negotiating {
		return fmt.Errorf("%w: no offer is waiting for an answer", ErrNegotiation)
	}
	offer := p.sub.PendingLocalDescription()
	if offer == nil {
		return fmt.Errorf("%w: no offer is waiting for an answer", ErrNegotiation)
	}
	answer = placeCandidates(offer.SDP, answer)
	refused, none := p.refusedLocked(offer.SDP, answer)
	if refused != nil && none {
		p.restartSubscriberLocked()
		return refused
	}
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	p.negotiating = false
	if p.again {
		p.again = false
		p.negotiateLocked()
	}
	return refused
}

// restartSubscriberLocked follows an answer that rejected every section:
// pion can neither apply it (it has no ICE credentials) nor take its offer
// back, so the subscriber connection is closed. The tracks it offered are not
// sent to this participant again (its client cannot receive them); tracks
// subscribed since go on a new connection, whose offer (with new ICE
// credentials) the client answers on a new peer connection. Called with mu held.
func (p *Participant) restartSubscriberLocked() {
	offered := map[*downTrack]bool{}
	for _, tr := range p.sub.GetTransceivers() {
		if tr.Sender() == nil {
			continue
		}
		if d, ok := tr.Sender().Track().(*downTrack); ok {
			offered[d] = true
		}
	}
	old := p.sub
	p.sub, p.negotiating, p.again = nil, false, false
	p.subConnected.Store(false)
	var later []*Track
	for id, d := range p.downs {
		d.track.RemoveSink(d)
		delete(p.downs, id)
		if !offered[d] {
			later = append(later, d.track)
		}
	}
	// Closing waits for pion's goroutines, which never take mu.
	if err := old.Close(); err != nil {
		p.log.Debug("subscriber close", "err", err)
	}
	// The old connection's send queue ends with it; a new connection
	// brings its own.
	if q := p.out.Swap(nil); q != nil {
		close(q.stop)
	}
	p.log.Info("subscriber connection restarted: the client rejected every section offered")
	if len(later) == 0 {
		return
	}
	pc, err := p.newSubscriberPC()
	if err != nil {
		p.log.Warn("subscriber connection", "err", err)
		return
	}
	p.sub = pc
	for _, t := range later {
		if _, err := p.attachLocked(t, p.addSendonly); err != nil {
			p.log.Warn("subscribe", "track", t.id, "err", err)
		}
	}
	p.negotiateLocked()
}

// addSendonly puts a downTrack on the subscriber connection. Called with mu held.
func (p *Participant) addSendonly(d *downTrack) (*webrtc.RTPSender, error) {
	tr, err := p.sub.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	return tr.Sender(), nil
}

// refusedLocked reports a section of the answer that rejects one of the tracks
// the pending offer sends to the participant, and whether the answer rejects
// every section. Called with mu held.
func (p *Participant) refusedLocked(offer, answer string) (refused error, none bool) {
	sending := map[string]codecOf{}
	for _, tr := range p.sub.GetTransceivers() {
		if tr.Sender() == nil || tr.Mid() == "" {
			continue
		}
		if d, ok := tr.Sender().Track().(*downTrack); ok {
			sending[tr.Mid()] = codecOf{kind: d.track.kind.String(), name: mimeCodecName(d.track.codec.MimeType)}
		}
	}
	return refusedInAnswer(answer, sdpMids(offer), sending)
}

// AddCandidate adds a trickled ICE candidate from the client to its publisher
// or subscriber connection.
func (p *Participant) AddCandidate(target string, c webrtc.ICECandidateInit) error {
	p.mu.Lock()
	pc := p.pub
	if target == "subscriber" {
		pc = p.sub
	}
	p.mu.Unlock()
	if pc == nil {
		return fmt.Errorf("%w: no %s connection for this candidate", ErrNegotiation, target)
	}
	if err := pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	return nil
}

// Subscribe starts forwarding the given tracks of the room to the participant.
func (p *Participant) Subscribe(ids []string) error {
	if !p.Permissions().Has(access.Subscribe) {
		return ErrNoSubscribe
	}
	for _, id := range ids {
		t, ok := p.room.Track(id)
		if !ok {
			return fmt.Errorf("%w: %s", ErrTrackNotFound, id)
		}
		if !t.webrtc {
			return fmt.Errorf("%w: %s: %s", ErrNotWebRTC, id, t.note)
		}
		if t.owner != p {
			p.subscribeTrack(t)
		}
	}
	return nil
}

// Unsubscribe stops forwarding the given tracks.
func (p *Participant) Unsubscribe(ids []string) {
	for _, id := range ids {
		p.unsubscribeTrack(id)
	}
}

// subscribeTrack adds t to the subscriber connection and renegotiates. A
// subscriber whose connection is still coming up asks for a keyframe ahead
// (replay.go), once mu is released.
func (p *Participant) subscribeTrack(t *Track) {
	if d := p.addSubscription(t); d != nil && !p.subConnected.Load() {
		d.askAhead()
	}
}

// addSubscription puts a downTrack of t on the subscriber connection, which
// it makes if there is none, and renegotiates; it returns the downTrack, nil
// if none was added. It takes mu.
func (p *Participant) addSubscription(t *Track) *downTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.downs[t.id] != nil {
		return nil
	}
	if p.sub == nil {
		pc, err := p.newSubscriberPC()
		if err != nil {
			p.log.Warn("subscriber connection", "err", err)
			return nil
		}
		p.sub = pc
	}
	d, err := p.attachLocked(t, p.addSendonly)
	if err != nil {
		p.log.Warn("subscribe", "track", t.id, "err", err)
		return nil
	}
	p.negotiateLocked()
	return d
}

// newSubscriberPC creates the connection that sends media to the participant.
func (p *Participant) newSubscriberPC() (*webrtc.PeerConnection, error) {
	est := &estimator{}
	api, err := p.room.sfu.subscribeAPI(p.room.options().Broadcast, est)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p.watchSubscriber(pc)
	q := newSendQueue()
	q.drops = &p.room.sfu.stats.queueDrops
	p.est.Store(est)
	p.out.Store(q)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var ls linkState
		q.run(func() time.Duration { return p.linkTick(q, est, &ls) })
	}()
	return pc, nil
}

// allocateEvery is how often a subscriber's allocator shares out its estimate.
const allocateEvery = 250 * time.Millisecond

// attachLocked makes a downTrack for t, hands it to add (which puts it on the
// subscriber connection), and starts forwarding and reading its RTCP. Called
// with mu held.
func (p *Participant) attachLocked(t *Track, add func(*downTrack) (*webrtc.RTPSender, error)) (*downTrack, error) {
	d := p.newDown(t)
	sender, err := add(d)
	if err != nil {
		return nil, err
	}
	d.sender = sender
	p.downs[t.id] = d
	t.AddSink(d)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.readRTCP(sender, func() *downTrack { return d })
	}()
	return d, nil
}

// newDown makes a downTrack of t for p, capped by p's tier and the room's.
func (p *Participant) newDown(t *Track) *downTrack {
	roomTier := p.room.options().Tier
	subTier := p.tier
	if subTier == "" {
		subTier = roomTier
	}
	return newDownTrack(t, p, subTier, roomTier)
}

// watchSubscriber follows the subscriber connection's state: media is sent only
// once it is connected (earlier packets would be lost in the DTLS handshake,
// keyframe first), and every track restarts at a keyframe then.
func (p *Participant) watchSubscriber(pc *webrtc.PeerConnection) {
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			if !p.subConnected.Swap(true) {
				go p.resyncAll()
			}
		case webrtc.PeerConnectionStateFailed:
			go p.Close("subscriber connection failed")
		}
	})
}

// resyncAll makes every subscribed track restart at a keyframe.
func (p *Participant) resyncAll() {
	p.mu.Lock()
	downs := make([]*downTrack, 0, len(p.downs))
	for _, d := range p.downs {
		downs = append(downs, d)
	}
	p.mu.Unlock()
	for _, d := range downs {
		d.resync()
	}
}

// unsubscribeTrack removes a track from the subscriber connection.
func (p *Participant) unsubscribeTrack(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.downs[id]
	if d == nil {
		return
	}
	delete(p.downs, id)
	d.track.RemoveSink(d)
	if p.sub != nil && d.sender != nil {
		_ = p.sub.RemoveTrack(d.sender)
		p.negotiateLocked()
	}
}

// negotiateLocked sends a new subscriber offer, or marks that one is needed once
// the client answers the pending one. Called with mu held.
func (p *Participant) negotiateLocked() {
	if p.closed || p.sub == nil {
		return
	}
	if p.negotiating {
		p.again = true
		return
	}
	offer, err := p.sub.CreateOffer(nil)
	if err != nil {
		p.log.Warn("subscriber offer", "err", err)
		return
	}
	gathered := webrtc.GatheringCompletePromise(p.sub)
	if err := p.sub.SetLocalDescription(offer); err != nil {
		p.log.Warn("subscriber offer", "err", err)
		return
	}
	<-gathered
	p.negotiating = true
	tracks := make(map[string]TrackInfo, len(p.downs))
	for id, d := range p.downs {
		tracks[id] = d.track.Info()
	}
	p.send(Event{Type: EventOffer, SDP: p.sub.LocalDescription().SDP, Tracks: tracks})
}

// readRTCP reads the subscriber's feedback on one sender until the sender
// stops, and hands it to the downTrack the sender carries now (current may
// return nil while it carries none).
func (p *Participant) readRTCP(sender *webrtc.RTPSender, current func() *downTrack) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			if d := current(); d != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				p.log.Debug("rtcp read ended", "track", d.track.id, "err", err)
			}
			return
		}
		if d := current(); d != nil {
			d.onRTCP(pkts)
		}
	}
}

// onRTCP handles a subscriber's feedback for the track: keyframe requests go to
// the publisher (throttled), loss and bandwidth estimates steer the layer, and
// NACKs are answered from the track's packet cache.
func (d *downTrack) onRTCP(pkts []rtcp.Packet) {
	for _, pkt := range pkts {
		switch pk := pkt.(type) {
		case *rtcp.TransportLayerNack:
			var seqs []uint16
			for _, pair := range pk.Nacks {
				seqs = append(seqs, pair.PacketList()...)
			}
			d.retransmit(seqs)
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			// The current layer repairs the picture; a pending switch's
			// target needs its keyframe too.
			cur, target := d.layers()
			if cur >= 0 {
				d.track.requestKeyframe(cur)
			}
			if target != cur {
				d.track.requestKeyframe(target)
			}
		case *rtcp.ReceiverReport:
			for _, r := range pk.Reports {
				if b := d.bound.Load(); b != nil && r.SSRC == b.ssrc {
					d.onLoss(r.FractionLost)
				}
			}
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			d.onREMB(int64(pk.Bitrate))
		}
	}
}
