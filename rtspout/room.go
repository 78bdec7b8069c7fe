package rtspout

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpsimpleaudio"

	"lectern/program"
)

// RTSP out timing and sizes.
const (
	// describeWait bounds how long DESCRIBE waits for a new room out's
	// first video frame, whose parameter sets the description declares:
	// a program that starts waits for its source's next keyframe.
	describeWait = 10 * time.Second
	// DefaultIdleGrace is how long readers stay while nothing is on air
	// (Out.IdleGrace): an encoder that reconnects, or the next one,
	// continues their streams.
	DefaultIdleGrace = 15 * time.Second
	// payloadMax keeps RTP packets under common MTUs.
	payloadMax = 1200
)

// Payload types of the described formats.
const (
	ptH264 = 96
	ptAAC  = 97
	ptOpus = 111
)

// roomOut is RTSP out of one room: the consumer of the room's program that
// packetizes its frames once for all the room's readers.
//
// refs and gone are guarded by the Out's mu; readers by mu; err, the
// encoders and the audio format are set before ready is closed; the rest
// but the atomics is owned by the program goroutine.
type roomOut struct {
	id    string
	out   *Out
	log   *slog.Logger
	sub   atomic.Pointer[program.Subscription]
	refs  int
	gone  bool // out of the Out's map
	ready chan struct{}
	err   error
	ended chan struct{}
	endMu sync.Once
	// idle tells the room's watch goroutine that the program went idle
	// (true) or is on air again (false). The program goroutine is its only
	// sender and keeps only the latest value in it.
	idle chan bool
	// video is the latest video coding, for the descriptions of new readers.
	video atomic.Pointer[program.Codec]

	mu      sync.Mutex
	readers []*reader

	// Set before ready.
	h264       *rtph264.Encoder
	opus       *rtpsimpleaudio.Encoder
	aac        *rtpmpeg4audio.Encoder
	audioFmt   format.Format
	audioCodec *program.Codec

	// Owned by the program goroutine.
	started     bool
	cur, want   int // the video rendition sent, and the one to send (the top one)
	isIdle      bool
	audioWarned bool
}

// open returns a reader of room's program: the room's out, made and
// subscribed to the program if it has none, waits for the program's first
// video frame; then the reader's stream is made.
func (o *Out) open(srv *gortsplib.Server, room string) (*reader, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, fmt.Errorf("%w: shutting down", ErrNoProgram)
	}
	ro := o.rooms[room]
	if ro != nil && ro.isEnded() { // its readers still release it
		ro.gone = true
		delete(o.rooms, room)
		ro = nil
	}
	made := ro == nil
	if made {
		ro = &roomOut{id: room, out: o, log: o.log.With("room", room), ready: make(chan struct{}),
			ended: make(chan struct{}), idle: make(chan bool, 1), cur: -1}
		o.rooms[room] = ro
		o.wg.Add(1)
		go ro.watch()
	}
	ro.refs++
	o.mu.Unlock()
	if made {
		sub, err := o.progs.Subscribe(room, ro)
		if err != nil {
			ro.err = fmt.Errorf("%w: %w", ErrNoProgram, err)
			close(ro.ready)
			o.release(ro)
			return nil, ro.err
		}
		ro.sub.Store(sub)
		ro.log.Info("rtsp out started")
	}
	timer := time.NewTimer(describeWait)
	defer timer.Stop()
	select {
	case <-ro.ready:
	case <-ro.ended:
	case <-timer.C:
		o.release(ro)
		return nil, fmt.Errorf("%w: no video within %v", ErrNoProgram, describeWait)
	}
	switch {
	case ro.err != nil:
		o.release(ro)
		return nil, ro.err
	case ro.isEnded():
		o.release(ro)
		return nil, fmt.Errorf("%w: the program ended", ErrNoProgram)
	}
	r, err := ro.newReader(srv)
	if err != nil {
		o.release(ro)
		return nil, err
	}
	return r, nil
}

// release drops a reference to ro; the last one ends it and detaches it
// from the program.
func (o *Out) release(ro *roomOut) {
	o.mu.Lock()
	ro.refs--
	last := ro.refs == 0
	if last && !ro.gone {
		ro.gone = true
		if o.rooms[ro.id] == ro {
			delete(o.rooms, ro.id)
		}
	}
	o.mu.Unlock()
	if last {
		ro.end()
		if sub := ro.sub.Load(); sub != nil {
			sub.Close()
		}
		ro.log.Info("rtsp out stopped")
	}
}

// closeReader ends the reader's stream and releases its room's out. It may
// not be called from the program goroutine.
func (o *Out) closeReader(r *reader) {
	r.once.Do(func() {
		ro := r.room
		ro.mu.Lock()
		for i, x := range ro.readers {
			if x == r {
				ro.readers = append(ro.readers[:i], ro.readers[i+1:]...)
				break
			}
		}
		ro.mu.Unlock()
		r.closeStream()
		o.release(ro)
	})
}

// watch ends the room's readers when nothing has been on air for the Out's
// IdleGrace.
func (ro *roomOut) watch() {
	defer ro.out.wg.Done()
	var grace *time.Timer
	var expired <-chan time.Time
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	for {
		select {
		case idle := <-ro.idle:
			if grace != nil {
				grace.Stop()
				grace, expired = nil, nil
			}
			if idle {
				grace = time.NewTimer(ro.out.IdleGrace)
				expired = grace.C
			}
		case <-expired:
			ro.log.Info("rtsp out: nothing on air; readers' sessions end", "after", ro.out.IdleGrace)
			ro.end()
			return
		case <-ro.ended:
			return
		}
	}
}

// setIdle tells watch whether the program is idle (program goroutine).
func (ro *roomOut) setIdle(idle bool) {
	if ro.isIdle == idle {
		return
	}
	ro.isIdle = idle
	select {
	case <-ro.idle:
	default:
	}
	ro.idle <- idle
}

func (ro *roomOut) isEnded() bool {
	select {
	case <-ro.ended:
		return true
	default:
		return false
	}
}

// end closes every reader's stream (their sessions end, and with them their
// references to ro).
func (ro *roomOut) end() {
	ro.endMu.Do(func() {
		close(ro.ended)
		ro.mu.Lock()
		readers := ro.readers
		ro.readers = nil
		ro.mu.Unlock()
		for _, r := range readers {
			r.closeStream()
		}
	})
}

// WriteFrame implements program.Consumer.
func (ro *roomOut) WriteFrame(f *program.Frame) {
	if ro.isEnded() {
		return
	}
	if f.Kind == program.Audio {
		if ro.started {
			ro.writeAudio(f)
		}
		return
	}
	ro.setIdle(false)
	ro.video.Store(f.Codec)
	if !ro.started {
		ro.started = true
		if err := ro.setup(f); err != nil {
			ro.log.Warn("rtsp out", "err", err)
			ro.err = err
			close(ro.ready)
			ro.end()
			return
		}
		close(ro.ready)
	}
	ro.writeVideo(f)
}

// Idle implements program.Consumer: nothing is on air. The readers stay
// (for the Out's IdleGrace) and start again at the next source's first keyframe,
// whatever rendition it brings.
func (ro *roomOut) Idle() {
	ro.cur, ro.want = -1, 0
	ro.mu.Lock()
	for _, r := range ro.readers {
		r.resync()
	}
	ro.mu.Unlock()
	if ro.started {
		ro.setIdle(true)
	}
}

// setup makes the packetizers as the first video frame describes the program.
func (ro *roomOut) setup(f *program.Frame) error {
	ro.h264 = &rtph264.Encoder{PayloadType: ptH264, PacketizationMode: 1, PayloadMaxSize: payloadMax}
	if err := ro.h264.Init(); err != nil {
		return err
	}
	a := f.Audio
	if a == nil {
		return nil
	}
	switch a.Name {
	case program.CodecOpus:
		ro.audioFmt = &format.Opus{PayloadTyp: ptOpus, ChannelCount: a.Channels}
		ro.opus = &rtpsimpleaudio.Encoder{PayloadType: ptOpus, PayloadMaxSize: payloadMax}
		if err := ro.opus.Init(); err != nil {
			return err
		}
	case program.CodecAAC:
		ro.audioFmt = &format.MPEG4Audio{PayloadTyp: ptAAC, Config: a.AAC, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		ro.aac = &rtpmpeg4audio.Encoder{PayloadType: ptAAC, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
			PayloadMaxSize: payloadMax}
		if err := ro.aac.Init(); err != nil {
			return err
		}
	default:
		return nil
	}
	ro.audioCodec = a
	return nil
}

// requestKeyframe asks the program for a keyframe in a rendition.
func (ro *roomOut) requestKeyframe(rendition int) {
	if sub := ro.sub.Load(); sub != nil && rendition >= 0 {
		sub.RequestKeyframe(rendition)
	}
}

func ticksToDuration(t int64, clock int) time.Duration {
	c := int64(clock)
	return time.Duration(t/c)*time.Second + time.Duration(t%c)*time.Second/time.Duration(c)
}
