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
)

// Payload types of the described formats.
const (
	ptH264 = 96
	ptAAC  = 97
	ptOpus = 111
)

// readerOut is one RTSP reader's view of its room's program: a program
// consumer that packetizes the program's frames into RTP for a stream of
// its own, so that the reader starts at a keyframe and its sequence numbers
// and timestamps run on across switches of source (each keyframe carries
// its parameter sets in-band, so a new source's resolution reaches the
// decoder before its first picture).
//
// The fields below sub are set before the stream is published through st;
// the rest but playing, idle and once is owned by the program goroutine.
type readerOut struct {
	room string
	log  *slog.Logger
	sub  atomic.Pointer[hls.Subscription]

	// ready is closed at the program's first video frame, first.
	ready chan struct{}
	first *hls.Frame
	// ended is closed when the program goes idle.
	ended   chan struct{}
	idle    atomic.Bool
	st      atomic.Pointer[outStream]
	playing atomic.Bool
	once    sync.Once

	// Owned by the program goroutine.
	started     bool
	cur, want   int       // the video rendition sent, and the one to send (the top one)
	base        time.Time // the wall time of timeline 0, for RTCP sender reports
	audioWarned bool
}

// outStream is a reader's stream and its packetizers.
type outStream struct {
	stream       *gortsplib.ServerStream
	video, audio *description.Media
	audioCodec   *hls.Codec
	h264         *rtph264.Encoder
	opus         *rtpsimpleaudio.Encoder
	aac          *rtpmpeg4audio.Encoder
	closeOnce    sync.Once
}

func (st *outStream) close() { st.closeOnce.Do(st.stream.Close) }

// newReaderOut subscribes a reader to room's program and waits for its first
// video frame; then the reader's stream is made.
func (s *Server) newReaderOut(room string) (*readerOut, error) {
	o := &readerOut{room: room, log: s.log.With("room", room), ready: make(chan struct{}), ended: make(chan struct{}), cur: -1}
	sub, err := s.programs.Subscribe(room, o)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoProgram, err)
	}
	o.sub.Store(sub)
	timer := time.NewTimer(describeWait)
	defer timer.Stop()
	select {
	case <-o.ready:
	case <-o.ended:
		o.close()
		return nil, fmt.Errorf("%w: the program went idle", ErrNoProgram)
	case <-timer.C:
		o.close()
		return nil, fmt.Errorf("%w: no video within %v", ErrNoProgram, describeWait)
	}
	st, err := o.build(s.rtsp)
	if err != nil {
		o.close()
		return nil, err
	}
	o.st.Store(st)
	if o.idle.Load() {
		st.close()
	}
	return o, nil
}

// build describes the program as its first video frame has it: H.264 with
// that frame's parameter sets, and the audio on air then (Opus or AAC).
func (o *readerOut) build(srv *gortsplib.Server) (*outStream, error) {
	f := o.first
	st := &outStream{
		video: &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
			PayloadTyp: ptH264, PacketizationMode: 1, SPS: f.Codec.SPS, PPS: f.Codec.PPS}}},
		h264: &rtph264.Encoder{PayloadType: ptH264, PacketizationMode: 1, PayloadMaxSize: payloadMax},
	}
	desc := &description.Session{Title: "Lectern " + o.room, Medias: []*description.Media{st.video}}
	if a := f.Audio; a != nil {
		var af format.Format
		switch a.Name {
		case hls.CodecOpus:
			af = &format.Opus{PayloadTyp: ptOpus, ChannelCount: a.Channels}
			st.opus = &rtpsimpleaudio.Encoder{PayloadType: ptOpus, PayloadMaxSize: payloadMax}
		case hls.CodecAAC:
			af = &format.MPEG4Audio{PayloadTyp: ptAAC, Config: a.AAC, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
			st.aac = &rtpmpeg4audio.Encoder{PayloadType: ptAAC, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
				PayloadMaxSize: payloadMax}
		}
		if af != nil {
			st.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{af}}
			st.audioCodec = a
			desc.Medias = append(desc.Medias, st.audio)
		}
	}
	inits := []func() error{st.h264.Init}
	if st.opus != nil {
		inits = append(inits, st.opus.Init)
	}
	if st.aac != nil {
		inits = append(inits, st.aac.Init)
	}
	for _, init := range inits {
		if err := init(); err != nil {
			return nil, fmt.Errorf("rtsp out: %w", err)
		}
	}
	st.stream = &gortsplib.ServerStream{Server: srv, Desc: desc}
	if err := st.stream.Initialize(); err != nil {
		return nil, fmt.Errorf("rtsp out: %w", err)
	}
	return st, nil
}

// play marks the reader as playing: its stream starts at the next keyframe.
func (o *readerOut) play() {
	o.playing.Store(true)
	if sub := o.sub.Load(); sub != nil {
		for r := range maxRenditions {
			sub.RequestKeyframe(r)
		}
	}
}

// maxRenditions is the most video renditions a program has (simulcast layers).
const maxRenditions = 3

// close detaches the reader from the program and ends its stream. It may not
// be called from the program goroutine.
func (o *readerOut) close() {
	o.once.Do(func() {
		if sub := o.sub.Load(); sub != nil {
			sub.Close()
		}
		if st := o.st.Load(); st != nil {
			st.close()
		}
	})
}

// WriteFrame implements hls.Consumer.
func (o *readerOut) WriteFrame(f *hls.Frame) {
	if o.idle.Load() {
		return
	}
	if f.Kind == hls.Video && o.first == nil {
		o.first = f
		close(o.ready)
	}
	st := o.st.Load()
	if st == nil {
		return
	}
	if f.Kind == hls.Audio {
		if o.started {
			o.writeAudio(st, f)
		}
		return
	}
	o.writeVideo(st, f)
}

// Idle implements hls.Consumer: nothing is on air, the reader's session ends.
func (o *readerOut) Idle() {
	if o.idle.Swap(true) {
		return
	}
	close(o.ended)
	if st := o.st.Load(); st != nil {
		st.close()
	}
}

// writeVideo sends the top rendition. The reader starts at a keyframe sent
// while it plays; a rendition that appears (a simulcast layer) is taken at
// its first keyframe.
func (o *readerOut) writeVideo(st *outStream, f *hls.Frame) {
	o.want = max(o.want, f.Rendition)
	switch {
	case f.Rendition == o.want && (!o.started || o.cur != o.want):
		if !o.playing.Load() {
			return
		}
		if !f.Keyframe {
			o.requestKeyframe(o.want)
			return
		}
		if !o.started {
			if o.base.IsZero() {
				o.base = f.Received.Add(-ticksToDuration(f.DTS+int64(f.PTSOffset), f.Codec.ClockRate))
			}
			// The stream drops what it is given before the reader is
			// active (until just after PLAY is answered): the reader
			// starts with a keyframe that it got whole.
			if !o.sendVideo(st, f) {
				o.requestKeyframe(o.want)
				return
			}
			o.started = true
			o.log.Debug("rtsp reader started", "rendition", f.Rendition, "source", f.Source)
		} else {
			o.sendVideo(st, f)
		}
		o.cur = o.want
	case f.Rendition == o.cur && o.started:
		o.sendVideo(st, f)
	}
}

func (o *readerOut) requestKeyframe(rendition int) {
	if sub := o.sub.Load(); sub != nil {
		sub.RequestKeyframe(rendition)
	}
}

// sendVideo packetizes one access unit and writes it. It reports whether
// every packet reached the reader.
func (o *readerOut) sendVideo(st *outStream, f *hls.Frame) bool {
	pkts, err := st.h264.Encode(f.AU)
	if err != nil {
		o.log.Warn("rtsp out: cannot packetize", "err", err)
		return false
	}
	pts := f.DTS + int64(f.PTSOffset)
	return o.write(st, st.video, pkts, uint32(pts), o.ntp(pts, f.Codec.ClockRate), !o.started)
}

// writeAudio sends an audio frame if the described audio format carries it:
// the session description cannot change, so after a switch to audio of
// another coding the reader gets no audio until it reconnects.
func (o *readerOut) writeAudio(st *outStream, f *hls.Frame) {
	if st.audio == nil || !sameAudio(st.audioCodec, f.Codec) {
		if !o.audioWarned {
			o.audioWarned = true
			o.log.Info("rtsp out: the program's audio does not match the reader's session description; left out",
				"codec", f.Codec.Name)
		}
		return
	}
	var pkts []*rtp.Packet
	switch {
	case st.opus != nil:
		pkt, err := st.opus.Encode(f.Payload)
		if err != nil {
			return
		}
		pkts = []*rtp.Packet{pkt}
	case st.aac != nil:
		var err error
		if pkts, err = st.aac.Encode([][]byte{f.Payload}); err != nil {
			return
		}
	}
	o.write(st, st.audio, pkts, uint32(f.DTS), o.ntp(f.DTS, f.Codec.ClockRate), false)
}

// write sends packets stamped ts. With check, it reports whether the reader
// got them all (else it reports true).
func (o *readerOut) write(st *outStream, m *description.Media, pkts []*rtp.Packet, ts uint32, ntp time.Time, check bool) bool {
	var before, size uint64
	if check {
		before = st.stream.Stats().Medias[m].BytesSent
	}
	for _, pkt := range pkts {
		pkt.Timestamp = ts
		size += uint64(pkt.MarshalSize())
		if err := st.stream.WritePacketRTPWithNTP(m, pkt, ntp); err != nil {
			return false
		}
	}
	return !check || st.stream.Stats().Medias[m].BytesSent-before == size
}

// ntp is the wall time of a program time, for RTCP sender reports.
func (o *readerOut) ntp(t int64, clock int) time.Time {
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
