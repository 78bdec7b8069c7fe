package program

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	psdp "github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// errResync says a stream lost data and must restart at a keyframe.
var errResync = errors.New("program: stream needs a keyframe")

// h264Depacketizer turns one RTP stream into H.264 access units (RFC 6184),
// dropping everything from a gap in sequence numbers to the next IDR so that
// no broken picture reaches the viewers.
type h264Depacketizer struct {
	dec     *rtph264.Decoder
	dts     *h264.DTSExtractor
	seq     uint16
	haveSeq bool
	synced  bool
}

func newH264Depacketizer() *h264Depacketizer {
	d := &h264Depacketizer{dec: &rtph264.Decoder{PacketizationMode: 1}}
	_ = d.dec.Init()
	return d
}

// push returns the access unit that pk completes, or nil. errResync means
// data was lost: the caller asks for a keyframe.
func (d *h264Depacketizer) push(pk *packet) ([][]byte, error) {
	if d.haveSeq {
		switch diff := int16(pk.seq - d.seq); {
		case diff <= 0:
			return nil, nil // duplicate or late retransmission
		case diff > 1:
			d.reset()
			d.seq, d.haveSeq = pk.seq, true
			return nil, errResync
		}
	}
	d.seq, d.haveSeq = pk.seq, true
	au, err := d.dec.Decode(&rtp.Packet{Header: rtp.Header{Marker: pk.marker, SequenceNumber: pk.seq, Timestamp: pk.ts}, Payload: pk.payload})
	switch {
	case errors.Is(err, rtph264.ErrMorePacketsNeeded), errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
		return nil, nil
	case err != nil:
		d.reset()
		return nil, errResync
	}
	au = dropNALUs(au)
	if len(au) == 0 {
		return nil, nil
	}
	if !d.synced {
		if !h264.IsRandomAccess(au) {
			return nil, errResync
		}
		d.synced = true
		d.dts = h264.NewDTSExtractor()
	}
	return au, nil
}

// decodeTime returns the DTS of an access unit whose PTS is pts (both 90 kHz).
// Baseline streams have DTS = PTS; encoders with B-frames need the extractor.
func (d *h264Depacketizer) decodeTime(au [][]byte, pts int64) (int64, error) {
	dts, err := d.dts.Extract(au, pts)
	if err != nil {
		d.reset()
		return 0, errResync
	}
	return dts, nil
}

func (d *h264Depacketizer) reset() {
	d.dec = &rtph264.Decoder{PacketizationMode: 1}
	_ = d.dec.Init()
	d.synced = false
}

// dropNALUs removes access unit delimiters and filler, which MP4 samples do not carry.
func dropNALUs(au [][]byte) [][]byte {
	out := au[:0:0]
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter, h264.NALUTypeFillerData:
			continue
		}
		out = append(out, n)
	}
	return out
}

// paramSets returns the SPS and PPS of an access unit, if it has them.
func paramSets(au [][]byte) (sps, pps []byte) {
	for _, n := range au {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
	}
	return sps, pps
}

// carriesSPS reports whether an RTP payload (RFC 6184) holds an SPS: a single
// NAL unit, one inside a STAP-A, or the start of a fragmented one.
func carriesSPS(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	switch h264.NALUType(p[0] & 0x1f) {
	case h264.NALUTypeSPS:
		return true
	case h264.NALUTypeSTAPA:
		for rest := p[1:]; len(rest) > 2; {
			size := int(rest[0])<<8 | int(rest[1])
			rest = rest[2:]
			if size == 0 || size > len(rest) {
				return false
			}
			if h264.NALUType(rest[0]&0x1f) == h264.NALUTypeSPS {
				return true
			}
			rest = rest[size:]
		}
	case h264.NALUTypeFUA:
		return len(p) > 1 && p[1]&0x80 != 0 && h264.NALUType(p[1]&0x1f) == h264.NALUTypeSPS
	}
	return false
}

// withParams puts the codec's SPS and PPS in front of an IDR access unit that
// lacks them, so that every keyframe sample decodes on its own (players that
// join mid-stream, and resolution changes, rely on in-band parameter sets).
func withParams(au [][]byte, c *Codec) [][]byte {
	if sps, pps := paramSets(au); sps != nil && pps != nil {
		return au
	}
	return append([][]byte{c.SPS, c.PPS}, au...)
}

// aacFormat rebuilds an RTSP encoder's AAC format (RFC 3640) from the track's
// codec: its fmtp line carries the AudioSpecificConfig and AU header sizes.
func aacFormat(c webrtc.RTPCodecParameters) (*format.MPEG4Audio, error) {
	rtpmap := fmt.Sprintf("96 mpeg4-generic/%d", c.ClockRate)
	if c.Channels > 0 {
		rtpmap += fmt.Sprintf("/%d", c.Channels)
	}
	md := &psdp.MediaDescription{
		MediaName: psdp.MediaName{Media: "audio", Protos: []string{"RTP", "AVP"}, Formats: []string{"96"}},
		Attributes: []psdp.Attribute{
			{Key: "rtpmap", Value: rtpmap},
			{Key: "fmtp", Value: "96 " + c.SDPFmtpLine},
		},
	}
	f, err := format.Unmarshal(md, "96")
	if err != nil {
		return nil, fmt.Errorf("program: AAC format: %w", err)
	}
	aac, ok := f.(*format.MPEG4Audio)
	if !ok || aac.Config == nil {
		return nil, fmt.Errorf("program: AAC track has no config in its fmtp line %q", c.SDPFmtpLine)
	}
	return aac, nil
}

// aacDepacketizer turns RFC 3640 packets into AAC access units.
type aacDepacketizer struct{ dec *rtpmpeg4audio.Decoder }

func (d *aacDepacketizer) push(pk *packet) ([][]byte, error) {
	aus, err := d.dec.Decode(&rtp.Packet{Header: rtp.Header{Marker: pk.marker, SequenceNumber: pk.seq, Timestamp: pk.ts}, Payload: pk.payload})
	if errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded) {
		return nil, nil
	}
	return aus, err
}
