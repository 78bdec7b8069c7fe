// Package cascade serves a room's WebRTC viewers on a node that is not the
// room's owner (an edge): the edge pulls each simulcast layer of the room's
// program once from the owner, as a WHEP viewer pinned to that layer and
// authenticated with a node credential, publishes what it pulls into a
// room of its own SFU (sfu.EdgeRoom) and fans it out to its subscribers
// there. Layers no subscriber here takes are dropped (dynacast across the
// link); keyframe requests and NACKs go back over the pull to the owner,
// which answers them as for any viewer (docs/architecture.md "Across
// nodes").
package cascade

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"lectern/sfu"
)

// ErrClosed is returned by Acquire once Close has begun.
var ErrClosed = errors.New("cascade: closed")

// Config is what the edges need from the node.
type Config struct {
	// Token returns the node credential for pulling room with identity: an
	// access token with the subscribe permission in room, signed with the
	// cluster's signing key (docs/security.md "Between nodes").
	Token func(room, identity string) (string, error)
	// Client sends the pulls' WHEP requests; nil: one with a 10 s timeout.
	Client *http.Client
	// Loopback lets pulls use loopback addresses (tests, one machine).
	Loopback bool
}

// Edges are this node's edges, one per room served here from another node.
// The map is guarded by mu; each edge's goroutine is counted by wg.
type Edges struct {
	cfg    Config
	media  *sfu.SFU
	log    *slog.Logger
	api    *webrtc.API
	client *http.Client
	stats  counters

	mu     sync.Mutex
	m      map[string]*edge
	closed bool
	wg     sync.WaitGroup
}

// New prepares the edges of media. It starts nothing.
func New(cfg Config, media *sfu.SFU, log *slog.Logger) (*Edges, error) {
	if cfg.Token == nil {
		return nil, errors.New("cascade: a node credential is required")
	}
	api, err := pullAPI(cfg.Loopback, log)
	if err != nil {
		return nil, err
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Edges{cfg: cfg, media: media, log: log, api: api, client: client, m: map[string]*edge{}}, nil
}

// Acquire returns the edge room of room, whose owner is the node at origin
// (its base URL), starting the edge if it is not running: once the owner
// has answered the lowest layer's pull. release ends the caller's hold; the
// edge ends with the last one. An edge pulling from another origin (the
// room moved) is ended first. An error means the owner could not be pulled
// from: the caller may send its client there instead.
func (e *Edges) Acquire(ctx context.Context, room, origin string, opts sfu.RoomOptions) (*sfu.Room, func(), error) {
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return nil, nil, ErrClosed
		}
		ed := e.m[room]
		if ed != nil && (ed.origin != origin || ed.stopping()) {
			e.mu.Unlock()
			ed.stop("the room moved to another node: connect again")
			select {
			case <-ed.done:
				continue
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		if ed == nil {
			ed = newEdge(e, room, origin, opts)
			e.m[room] = ed
			e.wg.Add(1)
			go ed.run()
		}
		ed.refs++
		e.mu.Unlock()
		release := sync.OnceFunc(func() { e.release(ed) })
		select {
		case <-ed.ready:
		case <-ctx.Done():
			release()
			return nil, nil, ctx.Err()
		}
		if ed.readyErr != nil {
			release()
			return nil, nil, ed.readyErr
		}
		return ed.sroom, release, nil
	}
}

// release drops one hold on ed, ending it with the last.
func (e *Edges) release(ed *edge) {
	e.mu.Lock()
	ed.refs--
	last := ed.refs == 0
	e.mu.Unlock()
	if last {
		ed.stop("no viewers left")
	}
}

// forget removes an edge that has ended from the map.
func (e *Edges) forget(ed *edge) {
	e.mu.Lock()
	if e.m[ed.room] == ed {
		delete(e.m, ed.room)
	}
	e.mu.Unlock()
}

// Rooms returns the rooms served here as edges, for metrics and tests.
func (e *Edges) Rooms() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.m))
	for id := range e.m {
		out = append(out, id)
	}
	return out
}

// End ends every edge with reason (their subscribers' sessions close, and
// they connect again) without waiting for the edges to finish; later
// Acquires start new ones. A fenced node calls it: it may have been judged
// dead, so it ends every session it holds (cluster.Node.OnFenced).
func (e *Edges) End(reason string) {
	e.mu.Lock()
	edges := make([]*edge, 0, len(e.m))
	for _, ed := range e.m {
		edges = append(edges, ed)
	}
	e.mu.Unlock()
	for _, ed := range edges {
		ed.stop(reason)
	}
	if len(edges) > 0 {
		e.log.Info("cascade edges ended", "edges", len(edges), "reason", reason)
	}
}

// Close ends every edge (their subscribers are told to connect again) and
// waits for them.
func (e *Edges) Close() {
	e.mu.Lock()
	e.closed = true
	edges := make([]*edge, 0, len(e.m))
	for _, ed := range e.m {
		edges = append(edges, ed)
	}
	e.mu.Unlock()
	for _, ed := range edges {
		ed.stop("the server is shutting down")
	}
	e.wg.Wait()
}

// pullAPI is the pion API of the pulls: the codecs a room can carry, without
// RTX (the owner resends on the media stream) and without pion's NACK
// generator (the edge's SFU repairs loss itself, sfu/nack.go), with TWCC
// feedback and receiver reports so that the owner paces the link as for
// any viewer. ICE gives up fast: the owner is on the same network.
func pullAPI(loopback bool, log *slog.Logger) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}
	codecs := []struct {
		kind webrtc.RTPCodecType
		c    webrtc.RTPCodecParameters
	}{
		{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: fb}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 98, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: fb}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 45, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, RTCPFeedback: fb}}},
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.c, c.kind); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: sfu.PionLogger(log)}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(loopback)
	se.SetICETimeouts(time.Second, 2*time.Second, 250*time.Millisecond)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}
