package program

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"lectern/sfu"
)

// Program timing.
const (
	// queueLen bounds the packets waiting for the program: about a second of
	// an HD video and its audio. A full queue drops and resyncs at a keyframe.
	queueLen = 1024
	// tickInterval paces speaker detection and keyframe retries.
	tickInterval = 100 * time.Millisecond
	// settle keeps a track that was just published off air for a moment, so
	// that all of a simulcast track's layers exist before renditions are made.
	settle = 300 * time.Millisecond
)

// Program is a room's on-air broadcast: one video and one audio track of the
// room at a time (chosen by a moderator, by the active speaker, or the first
// publisher's), depacketized into frames on one continuous timeline that
// switches of source do not break. It feeds its consumers (the HLS muxer, the
// recorder, RTSP readers). Its state is owned by its goroutine; other
// goroutines reach it through cmds (and events, for the SFU's callbacks).
//
// While nothing is on air, every track that can be broadcast keeps a preroll
// from its latest keyframe, so that the program starts at the first keyframe
// of what it puts on air: an encoder sends keyframes only every few seconds
// and cannot be asked for one, and a browser's answer to a request takes a
// round trip and comes at most once a second.
type Program struct {
	room  *sfu.Room
	log   *slog.Logger
	t0    time.Time
	queue chan *packet

	// events from the room's observer, which must not block, with the
	// inputs made for tracks just published; guarded by evMu, as is
	// stopped (set by shutdown: no more inputs are made).
	evMu    sync.Mutex
	events  []event
	stopped bool
	kick    chan struct{}

	cmds    chan func()
	stop    chan struct{}
	done    chan struct{}
	keyWant atomic.Uint32 // renditions that consumers want a keyframe in
	status  atomic.Pointer[Status]

	// Owned by the loop.
	inputs    map[string]*input
	consumers []*Subscription
	onAir     OnAir
	speaker   speaker
	video     videoState
	audio     audioState
	live      bool
	// audioOnly: the room takes no video, so the program is its audio alone
	// (RoomOptions.AudioOnly, read at every selection).
	audioOnly bool
}

// newProgram starts the program of room; close stops it.
func newProgram(room *sfu.Room, onAir OnAir, log *slog.Logger) *Program {
	p := &Program{
		room: room, log: log.With("room", room.ID()), t0: time.Now(), queue: make(chan *packet, queueLen),
		kick: make(chan struct{}, 1), cmds: make(chan func()), stop: make(chan struct{}), done: make(chan struct{}),
		inputs: map[string]*input{}, onAir: onAir,
	}
	p.status.Store(&Status{OnAir: onAir})
	cancel := room.Observe(p.observe)
	go p.run(cancel)
	return p
}

// event is a room event queued for the loop, with the input made for a
// track just published.
type event struct {
	sfu.Event
	in *input
}

// observe is the room's observer callback: it queues the event for the loop.
// A track just published gets its input, already the track's sink, here on
// the publisher's goroutine rather than later on the loop, so that the
// program has the track's first packets (its first keyframe above all).
func (p *Program) observe(ev sfu.Event) {
	p.evMu.Lock()
	if p.stopped {
		p.evMu.Unlock()
		return
	}
	e := event{Event: ev}
	if ev.Type == sfu.EventTrackPublished && ev.Track != nil {
		if t, ok := p.room.Track(ev.Track.ID); ok {
			e.in = newInput(t, p.queue, time.Now())
			e.in.live.Store(e.in.codec != "") // the loop stops it if unused
			t.AddSink(e.in)
		}
	}
	p.events = append(p.events, e)
	p.evMu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// do runs fn on the program's goroutine and waits for it. It reports false
// if the program has stopped.
func (p *Program) do(fn func()) bool {
	ran := make(chan struct{})
	select {
	case p.cmds <- func() { fn(); close(ran) }:
		<-ran
		return true
	case <-p.done:
		return false
	}
}

// close stops the program and waits for it.
func (p *Program) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

func (p *Program) run(cancelObserve func()) {
	defer close(p.done)
	defer cancelObserve()
	p.log.Info("program started")
	for _, t := range p.room.Tracks() {
		p.addTrack(t)
	}
	p.reselect(time.Now())
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	for {
		select {
		case pk := <-p.queue:
			p.handle(pk)
		case <-p.kick:
			// The packets queued before the events go first: the last
			// frames of a track that was unpublished since.
			for n := len(p.queue); n > 0; n-- {
				p.handle(<-p.queue)
			}
			p.handleEvents()
		case fn := <-p.cmds:
			fn()
		case now := <-tick.C:
			p.tick(now)
		case <-p.stop:
			p.shutdown()
			return
		}
		p.serveKeyframeWants()
	}
}

// takeEvents returns the queued events.
func (p *Program) takeEvents() []event {
	p.evMu.Lock()
	defer p.evMu.Unlock()
	evs := p.events
	p.events = nil
	return evs
}

// handleEvents applies queued track events.
func (p *Program) handleEvents() {
	evs := p.takeEvents()
	if len(evs) == 0 {
		return
	}
	for _, ev := range evs {
		if ev.Track == nil {
			continue
		}
		switch ev.Type {
		case sfu.EventTrackPublished:
			if ev.in != nil {
				p.adopt(ev.in)
			}
		case sfu.EventTrackUnpublished:
			p.removeTrack(ev.Track.ID)
		}
	}
	p.reselect(time.Now())
}

// addTrack makes an input for a track that was in the room before the program.
func (p *Program) addTrack(t *sfu.Track) {
	if _, ok := p.inputs[t.ID()]; ok {
		return
	}
	in := newInput(t, p.queue, time.Now())
	in.live.Store(in.codec != "" && !p.live)
	t.AddSink(in)
	p.adopt(in)
}

// adopt takes an input, already its track's sink, into the program, or
// detaches it if the track has one or is gone.
func (p *Program) adopt(in *input) {
	t := in.track
	if _, ok := p.inputs[t.ID()]; ok {
		t.RemoveSink(in)
		return
	}
	select {
	case <-t.Done():
		t.RemoveSink(in)
		return
	default:
	}
	p.inputs[t.ID()] = in
	if p.live {
		p.unqueue(in) // something is on air: a new track waits to be chosen
	}
	if in.codec == "" {
		p.log.Info("program: track cannot be broadcast", "track", t.ID(), "codec", t.Codec().MimeType)
	}
}

// unqueue stops queueing the packets of an input the program does not use,
// unless nothing is on air: then every input that can be broadcast keeps its
// preroll.
func (p *Program) unqueue(in *input) {
	if !p.live && in.codec != "" {
		return
	}
	in.live.Store(false)
	in.dropPreroll()
}

// used reports whether the program plays in now, or is about to.
func (p *Program) used(in *input) bool {
	if in == p.video.target || in == p.audio.cur {
		return true
	}
	for _, s := range p.video.slots {
		if s.cur.in == in || s.next.in == in {
			return true
		}
	}
	return false
}

func (p *Program) removeTrack(id string) {
	in, ok := p.inputs[id]
	if !ok {
		return
	}
	in.live.Store(false)
	in.track.RemoveSink(in)
	delete(p.inputs, id)
	if p.onAir.Video == id {
		p.onAir.Video = ""
	}
	if p.onAir.Audio == id {
		p.onAir.Audio = ""
	}
}

// tick follows the speaker, retries keyframe requests and notices tracks
// that settled.
func (p *Program) tick(now time.Time) {
	if p.onAir.FollowSpeaker {
		p.speaker.update(levels(p.inputs, now), now)
	}
	p.reselect(now)
	p.video.retryKeyframes()
}

// reselect puts on air what the selection rules choose now. A change of the
// room's policy between audio only and video ends what is on air: the
// consumers start a new broadcast of the other shape.
func (p *Program) reselect(now time.Time) {
	if ao := p.room.Options().AudioOnly(); ao != p.audioOnly {
		p.goIdle()
		p.audioOnly = ao
		p.log.Info("program shape", "audio_only", ao)
	}
	video, audio := p.choose(now)
	starts := !p.live && video != nil && video != p.video.target
	p.setVideo(video)
	p.setAudio(audio)
	if p.audioOnly && audio == nil {
		p.goIdle()
	}
	if starts {
		p.replay()
	}
	p.updateStatus()
}

// replay starts the program from the preroll of the video just chosen while
// nothing was on air: its packets since its latest keyframe, with the
// chosen audio's of that time, in the order they came, are handled as if
// the program had taken them then (their arrival times place them on the
// program's timeline).
func (p *Program) replay() {
	v := p.video.target
	pks := v.kept(time.Time{})
	if len(pks) == 0 {
		return
	}
	if a := p.audio.cur; a != nil {
		pks = append(pks, a.kept(pks[0].at)...)
		slices.SortStableFunc(pks, func(a, b *packet) int { return a.at.Compare(b.at) })
	}
	for _, pk := range pks {
		if pk.in.kind == Video {
			p.handleVideo(pk)
		} else {
			p.handleAudio(pk)
		}
	}
}

// handle routes one packet.
func (p *Program) handle(pk *packet) {
	if p.inputs[pk.in.id()] != pk.in {
		// A track published just now, whose event may still be queued.
		p.handleEvents()
		if p.inputs[pk.in.id()] != pk.in {
			return // unpublished since
		}
	}
	if !p.live {
		pk.in.keep(pk)
	}
	if pk.in.kind == Video {
		p.handleVideo(pk)
	} else {
		p.handleAudio(pk)
	}
}

// emit hands a frame to every consumer.
func (p *Program) emit(f *Frame) {
	if !p.live {
		if f.Kind != Video && !p.audioOnly {
			return
		}
		p.live = true
		p.log.Info("program live", "source", f.Source, "audio_only", p.audioOnly)
		p.updateStatus()
		for _, in := range p.inputs {
			in.dropPreroll()
			if !p.used(in) {
				in.live.Store(false)
			}
		}
	}
	for _, s := range p.consumers {
		s.c.WriteFrame(f)
	}
}

// goIdle tells the consumers that nothing is on air.
func (p *Program) goIdle() {
	if !p.live {
		return
	}
	p.live = false
	p.log.Info("program idle")
	p.updateStatus()
	for _, in := range p.inputs {
		if in.codec != "" {
			in.live.Store(true) // for its preroll
		}
	}
	for _, s := range p.consumers {
		s.c.Idle()
	}
}

// serveKeyframeWants asks the publishers for the keyframes consumers want.
func (p *Program) serveKeyframeWants() {
	want := p.keyWant.Swap(0)
	for i := 0; want != 0; i, want = i+1, want>>1 {
		if want&1 != 0 {
			p.video.requestKeyframe(i)
		}
	}
}

func (p *Program) shutdown() {
	p.evMu.Lock()
	p.stopped = true
	p.evMu.Unlock()
	for _, ev := range p.takeEvents() {
		if ev.in != nil && p.inputs[ev.in.id()] != ev.in {
			ev.in.track.RemoveSink(ev.in)
		}
	}
	p.goIdle()
	for id := range p.inputs {
		p.removeTrack(id)
	}
	p.consumers = nil
	p.room.SetProgram(sfu.ProgramChoice{})
	p.log.Info("program stopped")
}
