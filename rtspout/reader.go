package rtspout

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"lectern/program"
)

// reader is one RTSP reader's stream. Its stream's SSRC is its own
// (gortsplib's, one per stream), and so are the sequence numbers and
// timestamps that its clocks write: they run on across every change of
// source. playing is set by PLAY; started and the clocks are owned by the
// program goroutine.
type reader struct {
	room         *roomOut
	stream       *gortsplib.ServerStream
	video, audio *description.Media
	playing      atomic.Bool
	// started is true from the keyframe that the reader got whole, until the
	// program goes idle: then it waits for the next source's keyframe.
	started bool
	// audioRestart says that the audio starts again after a resync.
	audioRestart bool
	vclk, aclk   clock
	// base is the wall time of program time 0 for this reader's RTCP
	// sender reports: its first picture is stamped with the time it was
	// sent (see ntp).
	base      time.Time
	once      sync.Once
	closeOnce sync.Once
}

// clock maps one medium's program times to a reader's RTP sequence numbers
// and timestamps.
type clock struct {
	seq    uint16
	set    bool
	offset int64 // RTP timestamp minus program time
	last   int64 // the last timestamp sent, unwrapped
}

// timestamp is the RTP timestamp of program time t. At a new start (resync,
// after a gap in the program), a timestamp that would not come after the
// last one sent is moved to step after it: the program's timeline can step
// back when it starts again from a source's preroll.
func (c *clock) timestamp(t int64, restart bool, step int64) uint32 {
	if !c.set {
		c.set, c.seq = true, uint16(rand.Uint32())
		c.offset = int64(rand.Uint32()) - t
		c.last = t + c.offset - step
	}
	if restart && t+c.offset <= c.last {
		c.offset = c.last + step - t
	}
	ts := t + c.offset
	c.last = max(c.last, ts)
	return uint32(ts)
}

// newReader makes a reader's stream, described as the program is now: H.264
// with the latest parameter sets and the room's audio format (Opus or AAC).
func (ro *roomOut) newReader(srv *gortsplib.Server) (*reader, error) {
	c := ro.video.Load()
	r := &reader{room: ro, video: &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{
		&format.H264{PayloadTyp: ptH264, PacketizationMode: 1, SPS: c.SPS, PPS: c.PPS}}}}
	desc := &description.Session{Title: "Lectern " + ro.id, Medias: []*description.Media{r.video}}
	if ro.audioFmt != nil {
		r.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{ro.audioFmt}}
		desc.Medias = append(desc.Medias, r.audio)
	}
	r.stream = &gortsplib.ServerStream{Server: srv, Desc: desc}
	if err := r.stream.Initialize(); err != nil {
		return nil, fmt.Errorf("rtsp out: %w", err)
	}
	ro.mu.Lock()
	ro.readers = append(ro.readers, r)
	ro.mu.Unlock()
	if ro.isEnded() { // its stream may have been missed by end
		r.closeStream()
	}
	return r, nil
}

// closeStream ends the reader's stream, and so its session (once: gortsplib
// streams may not be closed twice).
func (r *reader) closeStream() { r.closeOnce.Do(r.stream.Close) }

// play marks the reader as playing: its stream starts at the next keyframe,
// which is asked for.
func (r *reader) play() {
	r.playing.Store(true)
	for i := range program.MaxRenditions {
		r.room.requestKeyframe(i)
	}
}

// resync makes the reader wait for a keyframe (program goroutine).
func (r *reader) resync() { r.started, r.audioRestart = false, true }

// writeVideo sends the top rendition: a rendition that appears (a simulcast
// layer) is taken at its first keyframe. A reader starts, and starts again
// after the program was idle, at a keyframe (which carries its parameter
// sets in-band, so a new source's resolution reaches the decoder before its
// first picture).
func (ro *roomOut) writeVideo(f *program.Frame) {
	ro.want = max(ro.want, f.Rendition)
	if f.Rendition == ro.want && ro.cur != ro.want {
		if !f.Keyframe {
			ro.requestKeyframe(ro.want)
			return
		}
		ro.cur = ro.want
	}
	if f.Rendition != ro.cur {
		return
	}
	pts := f.DTS + int64(f.PTSOffset)
	var pkts []*rtp.Packet
	waiting := false
	ro.mu.Lock()
	defer ro.mu.Unlock()
	for _, r := range ro.readers {
		if f.Switch && !f.Keyframe {
			r.resync() // a new source goes on only from a keyframe (the program switches at one)
		}
		if !r.started && (!f.Keyframe || !r.playing.Load()) {
			waiting = waiting || r.playing.Load()
			continue
		}
		if pkts == nil {
			var err error
			if pkts, err = ro.h264.Encode(f.AU); err != nil {
				ro.log.Warn("rtsp out: cannot packetize", "err", err)
				return
			}
		}
		ts := r.vclk.timestamp(pts, !r.started, int64(f.Codec.ClockRate)/30)
		// The stream drops what it is given before the reader is active
		// (until just after PLAY is answered): a reader starts with a
		// keyframe that it got whole.
		ok := r.write(r.video, &r.vclk, pkts, ts, r.ntp(pts, f.Codec.ClockRate), !r.started)
		if !r.started {
			r.started = ok
			waiting = waiting || !ok
		}
	}
	if waiting {
		ro.requestKeyframe(ro.cur)
	}
}

// writeAudio sends an audio frame to the readers that started, if the
// described audio format carries it: a session description cannot change,
// so after a switch to audio of another coding the readers get no audio
// until they reconnect.
func (ro *roomOut) writeAudio(f *program.Frame) {
	if ro.audioCodec == nil || !sameAudio(ro.audioCodec, f.Codec) {
		if !ro.audioWarned {
			ro.audioWarned = true
			ro.log.Info("rtsp out: the program's audio does not match the readers' session description; left out",
				"codec", f.Codec.Name)
		}
		return
	}
	var pkts []*rtp.Packet
	ro.mu.Lock()
	defer ro.mu.Unlock()
	for _, r := range ro.readers {
		if !r.started || r.audio == nil {
			continue
		}
		if pkts == nil {
			var err error
			switch {
			case ro.opus != nil:
				var pkt *rtp.Packet
				pkt, err = ro.opus.Encode(f.Payload)
				pkts = []*rtp.Packet{pkt}
			case ro.aac != nil:
				pkts, err = ro.aac.Encode([][]byte{f.Payload})
			}
			if err != nil {
				return
			}
		}
		ts := r.aclk.timestamp(f.DTS, r.audioRestart, max(1, f.Duration))
		r.audioRestart = false
		r.write(r.audio, &r.aclk, pkts, ts, r.ntp(f.DTS, f.Codec.ClockRate), false)
	}
}

// write sends packets stamped ts to the reader's stream, numbered by its
// clock. With check, it reports whether the reader got them all (else it
// reports true).
func (r *reader) write(m *description.Media, c *clock, pkts []*rtp.Packet, ts uint32, ntp time.Time, check bool) bool {
	var before, size uint64
	if check {
		before = r.stream.Stats().Medias[m].BytesSent
	}
	for _, p := range pkts {
		out := rtp.Packet{Header: p.Header, Payload: p.Payload}
		out.SequenceNumber, out.Timestamp = c.seq, ts
		c.seq++
		size += uint64(out.MarshalSize())
		if err := r.stream.WritePacketRTPWithNTP(m, &out, ntp); err != nil {
			return false
		}
	}
	return !check || r.stream.Stats().Medias[m].BytesSent-before == size
}

// ntp is the wall time of program time t (in ticks of clock) for the
// reader's sender reports. The reader's first picture is stamped with the
// time it is sent, and no packet with a later time than now: gortsplib
// answers PLAY with an RTP-Info timestamp extrapolated from the last
// packet's stamp as if it were the time of sending, and a stamp from the
// past (a frame the program sends late, under load or from a preroll) would
// put that timestamp ahead of the packets that follow, which players then
// drop as too early.
func (r *reader) ntp(t int64, clock int) time.Time {
	now := time.Now()
	if r.base.IsZero() {
		r.base = now.Add(-ticksToDuration(t, clock))
	}
	if at := r.base.Add(ticksToDuration(t, clock)); at.Before(now) {
		return at
	}
	return now
}

// sameAudio reports whether frames of coding b fit a stream described as a.
func sameAudio(a, b *program.Codec) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Name != b.Name || a.ClockRate != b.ClockRate || a.Channels != b.Channels {
		return false
	}
	return a.Name != program.CodecAAC || (a.AAC != nil && b.AAC != nil && *a.AAC == *b.AAC)
}
