package ingest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/sfu"
)

// notWebRTCNote explains why an encoder's audio does not reach browsers.
const notWebRTCNote = "%s audio cannot be sent over WebRTC; it reaches HLS, recordings and RTSP readers only"

// publisher is one encoder's RECORD session: a participant of kind encoder and
// one SFU track per supported media. Its tracks are set once in OnRecord.
type publisher struct {
	room   string
	part   *sfu.Participant
	medias []publishedMedia
}

type publishedMedia struct {
	media  *description.Media
	format format.Format
	spec   sfu.TrackSpec
	track  *sfu.Track
}

// plan picks the medias of an announced session that Lectern can carry.
func plan(desc *description.Session) ([]publishedMedia, []string) {
	var out []publishedMedia
	var skipped []string
	for _, m := range desc.Medias {
		if len(m.Formats) == 0 {
			continue
		}
		f := m.Formats[0]
		spec, ok := trackSpec(f)
		if !ok {
			skipped = append(skipped, f.Codec())
			continue
		}
		out = append(out, publishedMedia{media: m, format: f, spec: spec})
	}
	return out, skipped
}

// trackSpec maps an RTSP format to an SFU track: H.264 and Opus go everywhere,
// AAC and G.711 everywhere but WebRTC.
func trackSpec(f format.Format) (sfu.TrackSpec, bool) {
	switch f := f.(type) {
	case *format.H264:
		return sfu.TrackSpec{Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera, Codec: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profileLevelID(f),
		}}, true
	case *format.Opus:
		return sfu.TrackSpec{Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone, Codec: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}, true
	case *format.MPEG4Audio:
		// The fmtp line (RFC 3640) carries the AudioSpecificConfig that HLS
		// and recordings need in their init segments.
		return sfu.TrackSpec{Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone, NotWebRTC: true,
			Note: fmt.Sprintf(notWebRTCNote, "AAC"),
			Codec: webrtc.RTPCodecCapability{MimeType: "audio/mpeg4-generic", ClockRate: uint32(f.ClockRate()),
				SDPFmtpLine: fmtpLine(f.FMTP())}}, true
	case *format.G711:
		return sfu.TrackSpec{Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone, NotWebRTC: true,
			Note:  fmt.Sprintf(notWebRTCNote, "G.711"),
			Codec: webrtc.RTPCodecCapability{MimeType: "audio/" + strings.ToLower(f.RTPMap()), ClockRate: uint32(f.ClockRate())}}, true
	}
	return sfu.TrackSpec{}, false
}

// fmtpLine writes fmtp parameters as an SDP fmtp value, in a stable order.
func fmtpLine(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + params[k]
	}
	return strings.Join(parts, ";")
}

// profileLevelID is the profile-level-id of the stream's SPS, or constrained baseline.
func profileLevelID(f *format.H264) string {
	sps, _ := f.SafeParams()
	if len(sps) >= 4 {
		return fmt.Sprintf("%02x%02x%02x", sps[1], sps[2], sps[3])
	}
	return "42e01f"
}

// checkPolicy refuses a session any of whose medias the room's media policy
// refuses (an encoder's video is its camera, its audio the microphone): the
// whole ANNOUNCE is refused rather than the media dropped, so that an
// encoder set up for the wrong room hears so at once rather than going on
// air with half of what it sends.
func checkPolicy(medias []publishedMedia, g Grant) error {
	for _, m := range medias {
		if err := sfu.CheckSource(m.spec.Source, g.Options, g.Sources); err != nil {
			return err
		}
	}
	return nil
}

// policyReason is the sentence of a media policy refusal.
func policyReason(err error) string {
	var pe *sfu.PolicyError
	if errors.As(err, &pe) {
		return pe.Reason()
	}
	return err.Error()
}

// OnAnnounce accepts an encoder's session description after checking that its
// credentials may publish in the room, that it carries something Lectern can
// use and that the room's media policy takes all of it.
func (s *Server) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	if res, err, fenced := s.refuseFenced(ctx.Request); fenced {
		return res, err
	}
	t, err := parseTarget(ctx.Path)
	if err == nil {
		err = s.scope(ctx.Request, &t, ctx.Query)
	}
	if err != nil {
		return s.refuse(ctx.Conn, ctx.Request, "", err)
	}
	room := t.room
	// A relayed ANNOUNCE (relay.go) is served here whatever the placement.
	owner := ""
	if !s.relayed(room, ctx.Query) {
		owner = s.ownerElsewhere(room, true)
	}
	if owner != "" && len(s.RelaySecret) == 0 {
		return s.found(t, ctx.Query, owner), nil
	}
	actx, cancel := requestContext()
	defer cancel()
	g, err := s.authorize(actx, ctx.Conn, ctx.Request, t, ctx.Query, true)
	if err != nil {
		return s.refuse(ctx.Conn, ctx.Request, room, err)
	}
	if !g.Publish {
		return s.refuse(ctx.Conn, ctx.Request, room, fmt.Errorf("%w: %s may not publish", ErrNotPermitted, g.Identity))
	}
	if owner != "" {
		// Another node holds the room, and encoders do not follow 302.
		return s.startRelay(ctx, t, owner, g)
	}
	medias, skipped := plan(ctx.Description)
	if len(medias) == 0 {
		s.log.Warn("rtsp publish refused: unsupported codecs", "room", room, "codecs", skipped)
		return rtspError(base.StatusUnsupportedMediaType, fmt.Errorf("%w: %v (Lectern takes H.264 with Opus, AAC or G.711)", ErrUnsupported, skipped))
	}
	if len(skipped) > 0 {
		s.log.Warn("rtsp publish: ignoring unsupported codecs", "room", room, "codecs", skipped)
	}
	if err := checkPolicy(medias, g); err != nil {
		s.log.Info("rtsp publish refused: media policy", "room", room, "reason", err)
		res, _ := rtspError(base.StatusForbidden, err)
		// The reason phrase names what the room refuses; encoders print it.
		res.StatusMessage = "Forbidden (" + policyReason(err) + ")"
		return res, err
	}
	r, err := s.media.Room(room, g.Options)
	if err != nil {
		return s.refuse(ctx.Conn, ctx.Request, room, err)
	}
	part, err := r.Join(sfu.ParticipantOptions{Identity: g.Identity, Name: g.Name, Kind: sfu.KindEncoder,
		Permissions: access.Publish, Sources: g.Sources})
	if err != nil {
		return s.refuse(ctx.Conn, ctx.Request, room, err)
	}
	s.mu.Lock()
	s.publishers[ctx.Session] = &publisher{room: room, part: part, medias: medias}
	s.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord publishes the encoder's tracks and starts pushing its packets.
func (s *Server) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	if res, err, fenced := s.refuseFenced(ctx.Request); fenced {
		return res, err
	}
	if s.recordRelay(ctx) {
		return &base.Response{StatusCode: base.StatusOK}, nil
	}
	s.mu.Lock()
	p := s.publishers[ctx.Session]
	s.mu.Unlock()
	if p == nil {
		return rtspError(base.StatusBadRequest, fmt.Errorf("ingest: RECORD without ANNOUNCE"))
	}
	for i := range p.medias {
		m := &p.medias[i]
		t, err := p.part.PublishTrack(m.spec)
		if err != nil {
			return rtspError(base.StatusInternalServerError, err)
		}
		m.track = t
		if m.spec.NotWebRTC {
			s.log.Info("rtsp track not forwarded to WebRTC", "room", p.room, "track", t.ID(), "codec", m.format.Codec(), "note", m.spec.Note)
		}
		push := t.Push
		if h, ok := m.format.(*format.H264); ok {
			push = newParamInjector(h, t.Push).push
		}
		ctx.Session.OnPacketRTP(m.media, m.format, func(pkt *rtp.Packet) { push(pkt) })
	}
	s.log.Info("rtsp publisher started", "room", p.room, "participant", p.part.ID(), "tracks", len(p.medias))
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// close ends the encoder's participant.
func (p *publisher) close(reason string) { p.part.Close(reason) }
