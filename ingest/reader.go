package ingest

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/sfu"
)

// program is what RTSP readers of a room get: one video and (if any) one audio
// track of the room, written once into a gortsplib stream that fans out to every
// reader's own queue. Until on-air switching exists, the program is the first
// publisher with video. It ends when its video track is unpublished.
type program struct {
	room   string
	stream *gortsplib.ServerStream
	sinks  []*streamSink
	tracks []*sfu.Track
	done   chan struct{}
	once   sync.Once
}

// streamSink writes one track's packets into the stream, taking its top layer.
type streamSink struct {
	stream *gortsplib.ServerStream
	media  *description.Media
	pt     uint8
	track  *sfu.Track
}

// WriteRTP implements sfu.Sink.
func (k *streamSink) WriteRTP(pkt *rtp.Packet, layer int, _ bool) {
	if layer != k.track.LayerCount()-1 {
		return
	}
	out := rtp.Packet{Header: pkt.Header, Payload: pkt.Payload}
	out.PayloadType = k.pt
	out.Extension, out.Extensions = false, nil
	_ = k.stream.WritePacketRTP(k.media, &out)
}

// programFor returns the room's program, building it from the live tracks.
func (s *Server) programFor(room string) (*program, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.programs[room]; ok {
		return p, nil
	}
	r, ok := s.media.LiveRoom(room)
	if !ok {
		return nil, ErrNoProgram
	}
	video, audio := pickProgram(r.Tracks())
	if video == nil {
		return nil, ErrNoProgram
	}
	p := &program{room: room, done: make(chan struct{})}
	desc := &description.Session{Title: "Lectern " + room}
	for _, t := range []*sfu.Track{video, audio} {
		if t == nil {
			continue
		}
		f, err := s.formatOf(t)
		if err != nil {
			s.log.Warn("rtsp program: track left out", "room", room, "track", t.ID(), "err", err)
			continue
		}
		m := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f}}
		if t.Kind() == webrtc.RTPCodecTypeAudio {
			m.Type = description.MediaTypeAudio
		}
		desc.Medias = append(desc.Medias, m)
		p.sinks = append(p.sinks, &streamSink{media: m, pt: f.PayloadType(), track: t})
		p.tracks = append(p.tracks, t)
	}
	p.stream = &gortsplib.ServerStream{Server: s.rtsp, Desc: desc}
	if err := p.stream.Initialize(); err != nil {
		return nil, fmt.Errorf("rtsp program: %w", err)
	}
	for _, k := range p.sinks {
		k.stream = p.stream
		k.track.AddSink(k)
	}
	s.programs[room] = p
	s.wg.Add(1)
	go s.watchProgram(p, video)
	s.log.Info("rtsp program started", "room", room, "video", video.ID(), "tracks", len(p.tracks))
	return p, nil
}

// watchProgram ends the program, and with it every reader's session, when its
// video track is unpublished or the server stops.
func (s *Server) watchProgram(p *program, video *sfu.Track) {
	defer s.wg.Done()
	select {
	case <-video.Done():
	case <-p.done:
	}
	s.mu.Lock()
	if s.programs[p.room] == p {
		delete(s.programs, p.room)
	}
	s.mu.Unlock()
	p.close()
	s.log.Info("rtsp program ended", "room", p.room)
}

// close detaches the program from its tracks and closes its readers.
func (p *program) close() {
	p.once.Do(func() {
		for _, k := range p.sinks {
			k.track.RemoveSink(k)
		}
		p.stream.Close()
		close(p.done)
	})
}

// pickProgram chooses the earliest published video track, and an audio track of
// the same participant (or else the earliest audio).
func pickProgram(tracks []*sfu.Track) (video, audio *sfu.Track) {
	slices.SortFunc(tracks, func(a, b *sfu.Track) int { return int(a.Order()) - int(b.Order()) })
	for _, t := range tracks {
		if t.Kind() == webrtc.RTPCodecTypeVideo && video == nil {
			video = t
		}
	}
	for _, t := range tracks {
		if t.Kind() != webrtc.RTPCodecTypeAudio {
			continue
		}
		if video != nil && t.Owner() == video.Owner() {
			return video, t
		}
		if audio == nil {
			audio = t
		}
	}
	return video, audio
}

// formatOf describes a track for RTSP: encoders' tracks keep their announced
// format; WebRTC tracks get one from their codec.
func (s *Server) formatOf(t *sfu.Track) (format.Format, error) {
	s.fmtMu.Lock()
	f, ok := s.formats[t.ID()]
	s.fmtMu.Unlock()
	if ok {
		return f, nil
	}
	c := t.Codec()
	switch strings.ToLower(c.MimeType) {
	case strings.ToLower(webrtc.MimeTypeH264):
		return &format.H264{PayloadTyp: 96, PacketizationMode: 1}, nil
	case strings.ToLower(webrtc.MimeTypeVP8):
		return &format.VP8{PayloadTyp: 96}, nil
	case strings.ToLower(webrtc.MimeTypeVP9):
		return &format.VP9{PayloadTyp: 96}, nil
	case strings.ToLower(webrtc.MimeTypeOpus):
		return &format.Opus{PayloadTyp: 111, ChannelCount: 2}, nil
	}
	return nil, fmt.Errorf("codec %s has no RTSP mapping", c.MimeType)
}

// OnDescribe serves a room's program to readers whose token allows
// subscribe. The description names every track by an absolute URL (see
// describe).
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	t, err := parseTarget(ctx.Path)
	if err == nil {
		if res, ok := s.redirect(t, ctx.Query, false); ok {
			return res, nil, nil
		}
	}
	stream, err := s.readerStream(ctx.Conn, ctx.Request, ctx.Path, ctx.Query)
	if err != nil {
		res, err := s.refuse(ctx.Conn, ctx.Request, t.room, err)
		return res, nil, err
	}
	body, err := describe(stream.Desc, ctx.Request.URL, ctx.Path, ctx.Query)
	if err != nil {
		res, err := rtspError(base.StatusInternalServerError, err)
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK, Body: body}, nil, nil
}

// OnSetup accepts an encoder's tracks, or a reader's after checking it again.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	stream, err := s.readerStream(ctx.Conn, ctx.Request, ctx.Path, ctx.Query)
	if err != nil {
		t, _ := parseTarget(ctx.Path)
		res, err := s.refuse(ctx.Conn, ctx.Request, t.room, err)
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, stream, nil
}

// OnPlay starts a reader and asks the program's publisher for a keyframe.
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if t, err := parseTarget(ctx.Path); err == nil {
		s.mu.Lock()
		p := s.programs[t.room]
		s.mu.Unlock()
		if p != nil {
			for _, t := range p.tracks {
				t.RequestKeyframe()
			}
		}
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *Server) readerStream(conn *gortsplib.ServerConn, req *base.Request, path, query string) (*gortsplib.ServerStream, error) {
	t, err := parseTarget(path)
	if err != nil {
		return nil, err
	}
	actx, cancel := requestContext()
	defer cancel()
	g, err := s.authorize(actx, conn, req, t, query, false)
	if err != nil {
		return nil, err
	}
	if !g.Subscribe {
		return nil, fmt.Errorf("%w: %s may not subscribe", ErrNotPermitted, g.Identity)
	}
	p, err := s.programFor(t.room)
	if err != nil {
		return nil, err
	}
	return p.stream, nil
}
