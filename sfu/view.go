package sfu

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// View answers a viewer's offer (WHEP, draft-ietf-wish-whep): the client
// offers receive-only sections and the server sends the room's program into
// them: what the broadcast program has on air (Room.SetProgram) while one
// runs, else the video of the earliest publisher (its camera before its
// screen) and that publisher's audio, or else the earliest audio. A viewer cannot
// renegotiate, so each section keeps one sender for the whole session and the
// program is swapped into it with RTPSender.ReplaceTrack as publishers come and
// go. A viewer may connect before anyone publishes: its senders idle until the
// program has a track of their kind. The answer carries every server candidate.
func (p *Participant) View(offer string) (string, error) { return p.view(offer, -1) }

// view is View with the video pinned to the layer of rank pin (-1: not pinned).
func (p *Participant) view(offer string, pin int) (string, error) {
	if !p.Permissions().Has(access.Subscribe) {
		return "", ErrNoSubscribe
	}
	if err := CheckViewOffer(offer, p.room.options()); err != nil {
		return "", err
	}
	kinds, _ := viewKinds(offer, p.room.options().Broadcast)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", ErrClosed
	}
	if p.sub != nil {
		return "", fmt.Errorf("%w: this viewer is already connected", ErrNegotiation)
	}
	pc, err := p.newSubscriberPC()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
	}
	p.sub = pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: retagBundle(offer, p.room.options().Broadcast)}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	v := &viewer{p: p, pin: pin, changed: make(chan struct{}, 1), stop: make(chan struct{})}
	for _, k := range kinds {
		idle := &idleTrack{kind: k}
		sender, err := pc.AddTrack(idle)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
		}
		v.slots = append(v.slots, &viewSlot{kind: k, sender: sender, idle: idle})
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
	}
	<-gathered
	// A section whose codecs the room cannot send was rejected in the answer.
	v.slots = slices.DeleteFunc(v.slots, func(s *viewSlot) bool {
		s.codecs = s.sender.GetParameters().Codecs
		return len(s.codecs) == 0
	})
	if len(v.slots) == 0 {
		return "", fmt.Errorf("%w: no section of the offer can carry this room's media", ErrUnsupportedCodecs)
	}
	p.wg.Add(len(v.slots) + 1)
	for _, s := range v.slots {
		go func() {
			defer p.wg.Done()
			defer v.end()
			p.readRTCP(s.sender, s.cur.Load)
		}()
	}
	go v.run()
	p.log.Debug("viewer answered", "sections", len(v.slots))
	return placeCandidates(offer, pc.LocalDescription().SDP), nil
}

// CheckOffer refuses an offer that Publish (with no source names) would
// refuse: not SDP, no codec the room takes, or media the room's policy
// refuses (a *PolicyError), so the API can answer before anyone joins the
// room. extra are the sources the publisher may send beyond the policy.
func CheckOffer(offer string, o RoomOptions, extra access.Sources) error {
	if err := checkOffer(offer, o.Broadcast); err != nil {
		return err
	}
	return checkPolicy(offer, nil, o, extra)
}

// CheckViewOffer refuses an offer that View would refuse: also one without an
// audio or video section in which the viewer receives a codec the room takes.
func CheckViewOffer(offer string, o RoomOptions) error {
	if _, err := viewKinds(offer, o.Broadcast); err != nil {
		return err
	}
	return checkOffer(offer, o.Broadcast)
}

// viewKinds returns the kinds (video first) of the offer's sections that the
// server may send into: recvonly or sendrecv, sendrecv being the default (RFC
// 3264 section 5.1; port 0 disables a section, section 8.2), with a codec the
// room takes. Sections of other codecs are left out of the answer's senders,
// since pion cannot answer a sender without a codec.
func viewKinds(offer string, broadcast bool) ([]webrtc.RTPCodecType, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	session := direction(sd.Attributes, "sendrecv")
	var receives, video, audio bool
	for _, md := range sd.MediaDescriptions {
		dir := direction(md.Attributes, session)
		kind := md.MediaName.Media
		if md.MediaName.Port.Value == 0 || (dir != "recvonly" && dir != "sendrecv") || (kind != "video" && kind != "audio") {
			continue
		}
		receives = true
		if !offersCodec(md, broadcast) {
			continue
		}
		video = video || kind == "video"
		audio = audio || kind == "audio"
	}
	var kinds []webrtc.RTPCodecType
	if video {
		kinds = append(kinds, webrtc.RTPCodecTypeVideo)
	}
	if audio {
		kinds = append(kinds, webrtc.RTPCodecTypeAudio)
	}
	switch {
	case !receives:
		return nil, fmt.Errorf("%w: the offer has no recvonly audio or video section to send into", ErrBadSDP)
	case len(kinds) == 0:
		if refused, _ := refusedKinds(&sd, broadcast, true); len(refused) > 0 {
			return nil, refused[0]
		}
		return nil, fmt.Errorf("%w: no receiving section of the offer has a codec this room sends", ErrUnsupportedCodecs)
	}
	return kinds, nil
}

// direction returns the direction attribute among attrs, or def.
func direction(attrs []sdp.Attribute, def string) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return def
}

// viewer keeps a WHEP participant's senders on the room's program. Its run
// goroutine alone chooses and swaps tracks; the RTCP readers only read cur.
// Both end when the subscriber connection closes (its senders stop).
type viewer struct {
	p       *Participant
	slots   []*viewSlot
	changed chan struct{}
	stop    chan struct{}
	once    sync.Once
	// pin is the video layer rank the viewer is pinned to (ViewLayer), or -1.
	pin int
}

// viewSlot is the sender of one offered section.
type viewSlot struct {
	kind   webrtc.RTPCodecType
	sender *webrtc.RTPSender
	// codecs are those negotiated for the section.
	codecs []webrtc.RTPCodecParameters
	idle   *idleTrack
	// cur is the downTrack the sender carries, nil while idle.
	cur atomic.Pointer[downTrack]
	// last is the latest downTrack carried, whose sequence numbers and
	// timestamps the next one continues.
	last *downTrack
}

// end stops following, once any sender has stopped.
func (v *viewer) end() { v.once.Do(func() { close(v.stop) }) }

// run follows the program until the connection closes.
func (v *viewer) run() {
	defer v.p.wg.Done()
	cancel := v.p.room.Observe(func(ev Event) {
		if ev.Type == EventTrackPublished || ev.Type == EventTrackUnpublished {
			select {
			case v.changed <- struct{}{}:
			default:
			}
		}
	})
	defer cancel()
	for {
		progChanged := v.follow()
		select {
		case <-v.changed:
		case <-progChanged:
		case <-v.stop:
			return
		}
	}
}

// follow puts the current program into the slots: the broadcast program's
// choice when it has one, else the earliest publisher's. It returns a channel
// closed when the program's choice changes.
func (v *viewer) follow() <-chan struct{} {
	choice, changed := v.p.room.program()
	var tracks []*Track
	if v.p.Permissions().Has(access.Subscribe) {
		for _, t := range v.p.room.Tracks() {
			if t.webrtc && t.owner != v.p {
				tracks = append(tracks, t)
			}
		}
	}
	videos := preferTrack(choice.Video, tracks, programVideos(tracks))
	var owner *Participant
	if len(videos) > 0 {
		owner = videos[0].owner
	}
	for _, s := range v.slots {
		if s.kind == webrtc.RTPCodecTypeVideo {
			t := s.best(videos)
			if t != nil {
				owner = t.owner
			}
			v.put(s, t)
		} else {
			v.put(s, s.best(preferTrack(choice.Audio, tracks, programAudios(tracks, owner))))
		}
	}
	return changed
}

// best returns the first candidate the slot's codecs can carry.
func (s *viewSlot) best(candidates []*Track) *Track {
	for _, t := range candidates {
		for _, c := range s.codecs {
			if codecMatches(t.codec, c) {
				return t
			}
		}
	}
	return nil
}

// put makes the slot carry t (nil: idle). The new downTrack continues the
// outgoing sequence numbers and timestamps, so the viewer sees one stream on
// one SSRC (RFC 3550 section 5.1), restarting at a keyframe.
func (v *viewer) put(s *viewSlot, t *Track) {
	select {
	case <-v.stop:
		return // the senders have stopped: nothing to bind to
	default:
	}
	p := v.p
	cur := s.cur.Load()
	if cur != nil && cur.track == t && p.down(t.id) == cur {
		return
	}
	if cur == nil && t == nil {
		return
	}
	if cur != nil {
		p.detach(cur)
	}
	s.cur.Store(nil)
	if t == nil {
		if err := s.sender.ReplaceTrack(s.idle); err != nil {
			p.log.Debug("viewer idle", "kind", s.kind.String(), "err", err)
		}
		return
	}
	d := p.newDown(t)
	if v.pin >= 0 && t.keyframe != nil {
		d.pinTo(v.pin)
	}
	if err := s.sender.ReplaceTrack(d); err != nil {
		p.log.Warn("viewer track", "track", t.id, "err", err)
		_ = s.sender.ReplaceTrack(s.idle)
		return
	}
	if s.last != nil {
		d.continueFrom(s.last)
	}
	s.last = d
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	s.cur.Store(d)
	p.downs[t.id] = d
	t.AddSink(d)
	p.log.Debug("viewer program", "kind", s.kind.String(), "track", t.id)
}

// detach stops forwarding d without touching the subscriber connection.
func (p *Participant) detach(d *downTrack) {
	p.mu.Lock()
	if p.downs[d.track.id] == d {
		delete(p.downs, d.track.id)
	}
	p.mu.Unlock()
	d.track.RemoveSink(d)
}

// continueFrom makes d's first packet follow the last one old sent.
func (d *downTrack) continueFrom(old *downTrack) {
	old.mu.Lock()
	started, seq, ts, at := old.started, old.lastSeq, old.lastTS, old.lastAt
	old.mu.Unlock()
	d.mu.Lock()
	d.started, d.lastSeq, d.lastTS, d.lastAt = started, seq, ts, at
	d.mu.Unlock()
}

// idleTrack holds a viewer's sender while the program has nothing of its kind:
// pion starts a sender only with a track bound to it. It sends nothing.
type idleTrack struct{ kind webrtc.RTPCodecType }

// ID, RID, StreamID and Kind implement webrtc.TrackLocal.
func (i *idleTrack) ID() string                { return i.kind.String() }
func (i *idleTrack) RID() string               { return "" }
func (i *idleTrack) StreamID() string          { return "program" }
func (i *idleTrack) Kind() webrtc.RTPCodecType { return i.kind }

// Bind takes the first negotiated media codec.
func (i *idleTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind implements webrtc.TrackLocal.
func (i *idleTrack) Unbind(webrtc.TrackLocalContext) error { return nil }

// programVideos orders the video tracks: earliest publisher first (by its
// first track), camera before screen, then publication order.
func programVideos(tracks []*Track) []*Track {
	first := firstOrders(tracks)
	var out []*Track
	for _, t := range tracks {
		if t.kind == webrtc.RTPCodecTypeVideo {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *Track) int {
		return cmp.Or(cmp.Compare(first[a.owner], first[b.owner]), cmp.Compare(sourceRank(a.source), sourceRank(b.source)), cmp.Compare(a.order, b.order))
	})
	return out
}

// programAudios orders the audio tracks: owner's first, then earliest
// publisher, microphone before screen audio, then publication order.
func programAudios(tracks []*Track, owner *Participant) []*Track {
	first := firstOrders(tracks)
	var out []*Track
	for _, t := range tracks {
		if t.kind == webrtc.RTPCodecTypeAudio {
			out = append(out, t)
		}
	}
	notOwner := func(t *Track) int {
		if owner != nil && t.owner == owner {
			return 0
		}
		return 1
	}
	slices.SortFunc(out, func(a, b *Track) int {
		return cmp.Or(cmp.Compare(notOwner(a), notOwner(b)), cmp.Compare(first[a.owner], first[b.owner]),
			cmp.Compare(sourceRank(a.source), sourceRank(b.source)), cmp.Compare(a.order, b.order))
	})
	return out
}

// firstOrders maps each publisher to the publication order of its first track.
func firstOrders(tracks []*Track) map[*Participant]uint64 {
	first := map[*Participant]uint64{}
	for _, t := range tracks {
		if o, ok := first[t.owner]; !ok || t.order < o {
			first[t.owner] = t.order
		}
	}
	return first
}

// sourceRank puts camera and microphone before screen and screen audio.
func sourceRank(s string) int {
	switch s {
	case SourceCamera, SourceMicrophone:
		return 0
	case SourceScreen, SourceScreenAudio:
		return 1
	}
	return 2
}
