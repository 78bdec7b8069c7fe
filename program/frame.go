package program

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Kind is video or audio.
type Kind uint8

// Kinds of program tracks.
const (
	Video Kind = iota
	Audio
)

func (k Kind) String() string {
	if k == Video {
		return "video"
	}
	return "audio"
}

// Codec names.
const (
	CodecH264 = "h264"
	CodecOpus = "opus"
	CodecAAC  = "aac"
)

// Codec is the coding of a program track. The program hands out a new *Codec
// whenever the coding changes (another resolution, another audio codec), so
// consumers compare pointers to notice a change. Its fields are not modified.
type Codec struct {
	Name string
	// ClockRate is the time base of the track's frames (90000 for video).
	ClockRate int
	// SPS and PPS are H.264's parameter sets.
	SPS, PPS []byte
	// Channels is the audio channel count.
	Channels int
	// AAC is the AudioSpecificConfig of AAC.
	AAC *mpeg4audio.AudioSpecificConfig

	// width, height and rfc6381 are derived once from the SPS.
	width, height int
	rfc6381       string
}

// NewH264Codec describes H.264 with these parameter sets, parsing the SPS for
// the resolution and the codec string.
func NewH264Codec(sps, pps []byte) (*Codec, error) {
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("program: parse SPS: %w", err)
	}
	c := &Codec{Name: CodecH264, ClockRate: 90000, SPS: bytes.Clone(sps), PPS: bytes.Clone(pps),
		width: s.Width(), height: s.Height()}
	// RFC 6381 section 3.3: avc1.PPCCLL from profile_idc, constraint flags, level_idc.
	c.rfc6381 = fmt.Sprintf("avc1.%02x%02x%02x", sps[1], sps[2], sps[3])
	return c, nil
}

// sameParams reports whether c already carries these parameter sets.
func (c *Codec) sameParams(sps, pps []byte) bool {
	return c != nil && bytes.Equal(c.SPS, sps) && bytes.Equal(c.PPS, pps)
}

// Resolution is the video size from the SPS, or 0, 0.
func (c *Codec) Resolution() (width, height int) { return c.width, c.height }

// RFC6381 is the codec's name for the CODECS attribute of HLS (RFC 6381).
func (c *Codec) RFC6381() string {
	switch c.Name {
	case CodecH264:
		return c.rfc6381
	case CodecOpus:
		return "opus"
	case CodecAAC:
		if c.AAC != nil {
			return fmt.Sprintf("mp4a.40.%d", c.AAC.Type)
		}
		return "mp4a.40.2"
	}
	return ""
}

// Frame is one access unit of the program, on the program's continuous
// timeline. Frames and their byte slices are never modified after they are
// handed out, so a consumer may keep them.
type Frame struct {
	Kind Kind
	// Rendition is the video rendition: 0 is the lowest simulcast layer. 0 for audio.
	Rendition int
	Codec     *Codec
	// DTS is the decode time in Codec.ClockRate ticks; PTSOffset is PTS-DTS.
	DTS       int64
	PTSOffset int32
	// Duration is the audio frame's length in ticks (0 for video).
	Duration int64
	// Keyframe marks an IDR access unit (audio frames are all keyframes).
	Keyframe bool
	// Switch marks the first frame from a new source in this rendition.
	Switch bool
	// AU is the video access unit's NAL units; Payload is the audio frame.
	AU      [][]byte
	Payload []byte
	// AudioOnly marks the audio frames of a program without video (a room
	// whose media policy takes no video): they start streams and cut
	// segments, as video keyframes do otherwise.
	AudioOnly bool
	// Audio is, on video frames, the coding of the program's audio at that
	// moment (nil for none), so that an init segment made at a keyframe
	// declares the audio that is about to come.
	Audio *Codec
	// Source is the ID of the sfu track the frame came from.
	Source string
	// Received is when the packet completing the frame arrived.
	Received time.Time
}

// Consumer receives a program's frames: the HLS muxer, the recorder, RTSP out.
// Its methods run on the program's goroutine and must not block.
type Consumer interface {
	// WriteFrame hands over one frame.
	WriteFrame(f *Frame)
	// Idle says the program has nothing on air any more: the consumer
	// finishes what it has. Frames after Idle start a new broadcast.
	Idle()
}
