package ingest

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpsimpleaudio"
	"github.com/pion/rtp"

	"lectern/hls"
)

// Programs gives RTSP readers the room's one program, the one the HLS muxer
// and the recorder consume (hls.Service): it starts the program if needed
// and stops it when its last consumer's subscription closes.
type Programs interface {
	Subscribe(room string, c hls.Consumer) (*hls.Subscription, error)
}

// RTSP out.
const (
	// describeWait bounds how long DESCRIBE waits for the program's first
	// video frame, whose parameter sets the session description declares:
	// a program that starts waits for its source's next keyframe.
	describeWait = 10 * time.Second
	// payloadMax keeps RTP packets under common MTUs.
	payloadMax = 1200
	// maxRenditions is the most video renditions a program has (simulcast layers).
	maxRenditions = 3
)

// Payload types of the described formats.
const (
	ptH264 = 96
	ptAAC  = 97
	ptOpus = 111
)

// roomOut is RTSP out of one room: the consumer of the room's program that
// packetizes its frames into RTP once for all the room's readers. Each
// reader has a stream of its own, which starts at a keyframe that it got
// whole; from there it gets every packet, so its sequence numbers and
// timestamps run on across switches of source (each keyframe carries its
// parameter sets in-band, so a new source's resolution reaches the decoder
// before its first picture).
//
// refs and closing are guarded by the server's mu; readers by mu; first,
// the encoders and the audio format are set before ready is closed; the
// rest is owned by the program goroutine.
type roomOut struct {
	room  string
	log   *slog.Logger
	sub   atomic.Pointer[hls.Subscription]
	refs  int
	gone  bool // out of the server's map: closing, or ended
	ready chan struct{}
	err   error // why the program could not be had, set before ready closes
	first *hls.Frame
	ended chan struct{}
	endMu sync.Once
	// video is the latest video coding, for the descriptions of new readers.
	video atomic.Pointer[hls.Codec]

	mu      sync.Mutex
	readers []*reader

	// Set with first (program goroutine) before ready.
	h264       *rtph264.Encoder
	opus       *rtpsimpleaudio.Encoder
	aac        *rtpmpeg4audio.Encoder
	audioFmt   format.Format
	audioCodec *hls.Codec

	// Owned by the program goroutine.
	cur, want   int       // the video rendition sent, and the one to send (the top one)
	base        time.Time // the wall time of timeline 0, for RTCP sender reports
	audioWarned bool
}

// reader is one RTSP reader's stream. started is owned by the program goroutine.
type reader struct {
	out          *roomOut
	stream       *gortsplib.ServerStream
	video, audio *description.Media
	playing      atomic.Bool
	started      bool
	once         sync.Once
	closeOnce    sync.Once
}

// closeStream ends the reader's stream, and so its session (once: gortsplib
// streams may not be closed twice).
func (r *reader) closeStream() { r.closeOnce.Do(r.stream.Close) }

// newReader returns a reader of room's program: the room's RTSP out, made
// and subscribed to the program if it has none, waits for the program's
// first video frame; then the reader's stream is made.
func (s *Server) newReader(room string) (*reader, error) {
	s.mu.Lock()
	o := s.outs[room]
	if o != nil && o.isEnded() { // its readers still release it
		o.gone = true
		delete(s.outs, room)
		o = nil
	}
	made := o == nil
	if made {
		o = &roomOut{room: room, log: s.log.With("room", room), ready: make(chan struct{}), ended: make(chan struct{}), cur: -1}
		s.outs[room] = o
	}
	o.refs++
	s.mu.Unlock()
	if made {
		sub, err := s.programs.Subscribe(room, o)
		if err != nil {
			o.err = fmt.Errorf("%w: %w", ErrNoProgram, err)
			close(o.ready)
			s.release(o)
			return nil, o.err
		}
		o.sub.Store(sub)
	}
	timer := time.NewTimer(describeWait)
	defer timer.Stop()
	select {
	case <-o.ready:
	case <-o.ended:
	case <-timer.C:
		s.release(o)
		return nil, fmt.Errorf("%w: no video within %v", ErrNoProgram, describeWait)
	}
	switch {
	case o.err != nil:
		s.release(o)
		return nil, o.err
	case o.isEnded():
		s.release(o)
		return nil, fmt.Errorf("%w: the program went idle", ErrNoProgram)
	}
	r, err := o.newReader(s.rtsp)
	if err != nil {
		s.release(o)
		return nil, err
	}
	return r, nil
}

// release drops a reference to o; the last one detaches it from the program.
func (s *Server) release(o *roomOut) {
	s.mu.Lock()
	o.refs--
	last := o.refs == 0
	if last && !o.gone {
		o.gone = true
		if s.outs[o.room] == o {
			delete(s.outs, o.room)
		}
	}
	s.mu.Unlock()
	if last {
		if sub := o.sub.Load(); sub != nil {
			sub.Close()
		}
	}
}

// newReader makes a reader's stream, described as the program is now: H.264
// with the latest parameter sets and the room's audio format (Opus or AAC).
func (o *roomOut) newReader(srv *gortsplib.Server) (*reader, error) {
	c := o.video.Load()
	r := &reader{out: o, video: &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{
		&format.H264{PayloadTyp: ptH264, PacketizationMode: 1, SPS: c.SPS, PPS: c.PPS}}}}
	desc := &description.Session{Title: "Lectern " + o.room, Medias: []*description.Media{r.video}}
	if o.audioFmt != nil {
		r.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{o.audioFmt}}
		desc.Medias = append(desc.Medias, r.audio)
	}
	r.stream = &gortsplib.ServerStream{Server: srv, Desc: desc}
	if err := r.stream.Initialize(); err != nil {
		return nil, fmt.Errorf("rtsp out: %w", err)
	}
	o.mu.Lock()
	o.readers = append(o.readers, r)
	o.mu.Unlock()
	if o.isEnded() { // its stream may have been missed by end
		r.closeStream()
	}
	return r, nil
}

// play marks the reader as playing: its stream starts at the next keyframe,
// which is asked for.
func (r *reader) play() {
	r.playing.Store(true)
	if sub := r.out.sub.Load(); sub != nil {
		for i := range maxRenditions {
			sub.RequestKeyframe(i)
		}
	}
}

// closeReader ends the reader's stream and releases its room's RTSP out. It
// may not be called from the program goroutine.
func (s *Server) closeReader(r *reader) {
	r.once.Do(func() {
		o := r.out
		o.mu.Lock()
		for i, x := range o.readers {
			if x == r {
				o.readers = append(o.readers[:i], o.readers[i+1:]...)
				break
			}
		}
		o.mu.Unlock()
		r.closeStream()
		s.release(o)
	})
}

// WriteFrame implements hls.Consumer.
func (o *roomOut) WriteFrame(f *hls.Frame) {
	if o.isEnded() {
		return
	}
	if f.Kind == hls.Audio {
		if o.first != nil {
			o.writeAudio(f)
		}
		return
	}
	o.video.Store(f.Codec)
	if o.first == nil {
		if err := o.setup(f); err != nil {
			o.log.Warn("rtsp out", "err", err)
			o.err = err
			o.first = f
			close(o.ready)
			o.end()
			return
		}
		o.first = f
		close(o.ready)
	}
	o.writeVideo(f)
}

// setup makes the packetizers as the first video frame describes the program.
func (o *roomOut) setup(f *hls.Frame) error {
	o.h264 = &rtph264.Encoder{PayloadType: ptH264, PacketizationMode: 1, PayloadMaxSize: payloadMax}
	if err := o.h264.Init(); err != nil {
		return err
	}
	a := f.Audio
	if a == nil {
		return nil
	}
	switch a.Name {
	case hls.CodecOpus:
		o.audioFmt = &format.Opus{PayloadTyp: ptOpus, ChannelCount: a.Channels}
		o.opus = &rtpsimpleaudio.Encoder{PayloadType: ptOpus, PayloadMaxSize: payloadMax}
		if err := o.opus.Init(); err != nil {
			return err
		}
	case hls.CodecAAC:
		o.audioFmt = &format.MPEG4Audio{PayloadTyp: ptAAC, Config: a.AAC, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		o.aac = &rtpmpeg4audio.Encoder{PayloadType: ptAAC, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
			PayloadMaxSize: payloadMax}
		if err := o.aac.Init(); err != nil {
			return err
		}
	default:
		return nil
	}
	o.audioCodec = a
	return nil
}

func (o *roomOut) isEnded() bool {
	select {
	case <-o.ended:
		return true
	default:
		return false
	}
}

// Idle implements hls.Consumer: nothing is on air, the readers' sessions end.
func (o *roomOut) Idle() { o.end() }

// end closes every reader's stream (their sessions end, and with them the
// references to o) and leaves o to the readers that still hold it.
func (o *roomOut) end() {
	o.endMu.Do(func() {
		close(o.ended)
		o.mu.Lock()
		readers := o.readers
		o.readers = nil
		o.mu.Unlock()
		for _, r := range readers {
			r.closeStream()
		}
	})
}

// writeVideo sends the top rendition: a rendition that appears (a simulcast
// layer) is taken at its first keyframe. A reader that plays starts at a
// keyframe.
func (o *roomOut) writeVideo(f *hls.Frame) {
	o.want = max(o.want, f.Rendition)
	if f.Rendition == o.want && o.cur != o.want {
		if !f.Keyframe {
			o.requestKeyframe(o.want)
			return
		}
		o.cur = o.want
	}
	if f.Rendition != o.cur {
		return
	}
	pts := f.DTS + int64(f.PTSOffset)
	if o.base.IsZero() {
		o.base = f.Received.Add(-ticksToDuration(pts, f.Codec.ClockRate))
	}
	var pkts []*rtp.Packet
	waiting := false
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.readers {
		if !r.started && (!f.Keyframe || !r.playing.Load()) {
			waiting = waiting || r.playing.Load()
			continue
		}
		if pkts == nil {
			var err error
			if pkts, err = o.h264.Encode(f.AU); err != nil {
				o.log.Warn("rtsp out: cannot packetize", "err", err)
				return
			}
		}
		// The stream drops what it is given before the reader is active
		// (until just after PLAY is answered): a reader starts with a
		// keyframe that it got whole.
		if ok := write(r.stream, r.video, pkts, uint32(pts), o.ntp(pts, f.Codec.ClockRate), !r.started); !r.started {
			r.started = ok
			waiting = waiting || !ok
		}
	}
	if waiting {
		o.requestKeyframe(o.cur)
	}
}

func (o *roomOut) requestKeyframe(rendition int) {
	if sub := o.sub.Load(); sub != nil {
		sub.RequestKeyframe(rendition)
	}
}

// writeAudio sends an audio frame to the readers that started, if the
// described audio format carries it: a session description cannot change,
// so after a switch to audio of another coding the readers get no audio
// until they reconnect.
func (o *roomOut) writeAudio(f *hls.Frame) {
	if o.audioCodec == nil || !sameAudio(o.audioCodec, f.Codec) {
		if !o.audioWarned {
			o.audioWarned = true
			o.log.Info("rtsp out: the program's audio does not match the readers' session description; left out",
				"codec", f.Codec.Name)
		}
		return
	}
	var pkts []*rtp.Packet
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.readers {
		if !r.started || r.audio == nil {
			continue
		}
		if pkts == nil {
			var err error
			switch {
			case o.opus != nil:
				var pkt *rtp.Packet
				pkt, err = o.opus.Encode(f.Payload)
				pkts = []*rtp.Packet{pkt}
			case o.aac != nil:
				pkts, err = o.aac.Encode([][]byte{f.Payload})
			}
			if err != nil {
				return
			}
		}
		write(r.stream, r.audio, pkts, uint32(f.DTS), o.ntp(f.DTS, f.Codec.ClockRate), false)
	}
}

// write sends packets stamped ts to one stream. With check, it reports
// whether the reader got them all (else it reports true).
func write(st *gortsplib.ServerStream, m *description.Media, pkts []*rtp.Packet, ts uint32, ntp time.Time, check bool) bool {
	var before, size uint64
	if check {
		before = st.Stats().Medias[m].BytesSent
	}
	for _, pkt := range pkts {
		pkt.Timestamp = ts
		size += uint64(pkt.MarshalSize())
		if err := st.WritePacketRTPWithNTP(m, pkt, ntp); err != nil {
			return false
		}
	}
	return !check || st.Stats().Medias[m].BytesSent-before == size
}

// ntp is the wall time of a program time, for RTCP sender reports.
func (o *roomOut) ntp(t int64, clock int) time.Time {
	return o.base.Add(ticksToDuration(t, clock))
}

func ticksToDuration(t int64, clock int) time.Duration {
	c := int64(clock)
	return time.Duration(t/c)*time.Second + time.Duration(t%c)*time.Second/time.Duration(c)
}

// sameAudio reports whether frames of coding b fit a stream described as a.
func sameAudio(a, b *hls.Codec) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Name != b.Name || a.ClockRate != b.ClockRate || a.Channels != b.Channels {
		return false
	}
	return a.Name != hls.CodecAAC || (a.AAC != nil && b.AAC != nil && *a.AAC == *b.AAC)
}
