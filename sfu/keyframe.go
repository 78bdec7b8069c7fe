package sfu

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// keyframeFunc reports whether an RTP payload starts a keyframe.
type keyframeFunc func(payload []byte) bool

// videoCodec is what the SFU reads in a video codec's payloads: where a
// keyframe starts, and (for VP8 and VP9) the picture numbers a subscriber's
// stream renumbers across layer switches (pictures.go).
type videoCodec struct {
	keyframe keyframeFunc
	pictures pictureFields
}

// videoCodecs by lower-case MIME type.
var videoCodecs = map[string]videoCodec{
	strings.ToLower(webrtc.MimeTypeVP8):  {vp8Keyframe, vp8Fields},
	strings.ToLower(webrtc.MimeTypeVP9):  {vp9Keyframe, vp9Fields},
	strings.ToLower(webrtc.MimeTypeH264): {h264Keyframe, nil},
	strings.ToLower(webrtc.MimeTypeAV1):  {av1Keyframe, nil},
}

// keyframeDetector returns the detector for a codec, or nil for audio.
func keyframeDetector(mime string) keyframeFunc {
	return videoCodecs[strings.ToLower(mime)].keyframe
}

// vp8Keyframe reads the payload descriptor (RFC 7741 section 4.2) and the first
// byte of the VP8 frame header, whose P bit is 0 for keyframes.
func vp8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture ID, one or two bytes
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

// vp9Keyframe checks the payload descriptor: not inter-predicted (P=0) and the
// start of a frame (B=1).
func vp9Keyframe(p []byte) bool {
	return len(p) > 0 && p[0]&0x40 == 0 && p[0]&0x08 != 0
}

// h264Keyframe finds an IDR slice or an SPS in a single NAL unit, a STAP-A or
// the first fragment of an FU-A (RFC 6184 section 5).
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case 5, 7:
		return true
	case 24: // STAP-A
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if nt := p[i] & 0x1f; nt == 5 || nt == 7 {
				return true
			}
			i += size
		}
	case 28: // FU-A
		return len(p) > 1 && p[1]&0x80 != 0 && (p[1]&0x1f == 5 || p[1]&0x1f == 7)
	}
	return false
}

// av1Keyframe checks the aggregation header's N bit: the first packet of a
// coded video sequence.
func av1Keyframe(p []byte) bool {
	return len(p) > 0 && p[0]&0x08 != 0
}
