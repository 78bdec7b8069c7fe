// Package sfu is Lectern's media hub: rooms, participants, published tracks and
// the subscriptions that forward their RTP, without decoding, to exactly the
// participants allowed to receive it.
package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// SFU owns the rooms and the one UDP socket all media flows through. Its room
// map is guarded by mu; each Room guards its own state.
type SFU struct {
	log  *slog.Logger
	conn net.PacketConn
	mux  ice.UDPMux
	// apis holds the pion APIs by [broadcast][publish]; subscriber
	// connections get an API each (subscribeAPI) from subEngines[broadcast] and se.
	apis       [2][2]*webrtc.API
	subEngines [2]*webrtc.MediaEngine
	se         webrtc.SettingEngine

	stats counters
	// watchers follow every room's events (watch.go).
	watchers watchers

	mu    sync.Mutex
	rooms map[string]*Room
	// edges are the cascade edges' rooms (edge.go), apart from rooms.
	edges  map[string]*Room
	closed bool
}

// counters are the SFU's running totals, for metrics.
type counters struct {
	received      atomic.Uint64
	sendErrors    atomic.Uint64
	retransmitted atomic.Uint64
	keyframeReqs  atomic.Uint64
	nacksSent     atomic.Uint64
	recovered     atomic.Uint64
	queueDrops    atomic.Uint64
	replays       atomic.Uint64
}

// Stats are running totals since the SFU started.
type Stats struct {
	// Received counts packets received from publishers.
	Received uint64
	// SendErrors counts packets a subscriber's connection refused to send.
	SendErrors uint64
	// Retransmitted counts packets resent for subscribers' NACKs.
	Retransmitted uint64
	// KeyframeRequests counts PLIs sent to publishers (after throttling).
	KeyframeRequests uint64
	// NACKed counts packets asked of publishers again (nack.go); Recovered
	// counts those that came.
	NACKed, Recovered uint64
	// QueueDrops counts packets subscribers' send queues dropped: waited
	// past maxQueueDelay, or pushed out of a full queue.
	QueueDrops uint64
	// Replays counts subscribers started at a keyframe replayed from a
	// layer's packet cache (replay.go).
	Replays uint64
	// Rooms and Participants are the live counts.
	Rooms, Participants int
}

// Stats returns the running totals and live counts.
func (s *SFU) Stats() Stats {
	st := Stats{Received: s.stats.received.Load(), SendErrors: s.stats.sendErrors.Load(), Retransmitted: s.stats.retransmitted.Load(), KeyframeRequests: s.stats.keyframeReqs.Load(),
		NACKed: s.stats.nacksSent.Load(), Recovered: s.stats.recovered.Load(), QueueDrops: s.stats.queueDrops.Load(),
		Replays: s.stats.replays.Load()}
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	st.Rooms = len(rooms)
	s.mu.Lock()
	for _, r := range s.edges {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		st.Participants += len(r.Participants())
	}
	return st
}

// udpReadBuffer is the receive buffer asked for the media socket.
const udpReadBuffer = 8 << 20

// New opens the media UDP port and prepares the WebRTC stacks. It starts no
// goroutines of its own beyond pion's socket reader; Close stops everything.
func New(cfg Config, log *slog.Logger) (*SFU, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ip := net.IPv4zero
	if cfg.ListenIP != "" {
		ip = net.ParseIP(cfg.ListenIP)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: cfg.UDPPort})
	if err != nil {
		return nil, fmt.Errorf("webrtc_udp_port: %w", err)
	}
	// Every publisher's media arrives on this one socket: a buffer well above
	// the system's default (about 200 KB) rides out keyframe bursts from many
	// publishers while the machine is busy (the kernel caps it at
	// net.core.rmem_max).
	conn.SetReadBuffer(udpReadBuffer)
	s := &SFU{log: log, conn: conn, rooms: make(map[string]*Room), edges: make(map[string]*Room)}
	s.mux = webrtc.NewICEUDPMux(muxLogger{pionLogger(log).NewLogger("ice")}, conn)
	se := webrtc.SettingEngine{LoggerFactory: pionLogger(log)}
	se.SetICEUDPMux(s.mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.se = se
	for b := range 2 {
		if s.subEngines[b], err = newSubscribeEngine(b == 1); err != nil {
			conn.Close()
			return nil, err
		}
		if s.apis[b][1], err = newPublishAPI(b == 1, se); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return s, nil
}

// UDPAddr is the address of the media socket.
func (s *SFU) UDPAddr() net.Addr { return s.conn.LocalAddr() }

// api returns the pion API for a room's codec policy and a connection's direction.
func (s *SFU) api(broadcast, publish bool) *webrtc.API {
	b, p := 0, 0
	if broadcast {
		b = 1
	}
	if publish {
		p = 1
	}
	return s.apis[b][p]
}

// Room returns the live room id, creating it with opts when it has no one in it.
// The options of a live room are updated to opts for participants who join later.
func (s *SFU) Room(id string, opts RoomOptions) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	r, ok := s.rooms[id]
	if !ok {
		r = newRoom(s, id, opts)
		s.rooms[id] = r
		s.log.Info("room opened", "room", id)
	}
	r.setOptions(opts)
	return r, nil
}

// Reconfigure sets the options of room id if it is live (a changed media
// policy applies to its next offers); it opens no room.
func (s *SFU) Reconfigure(id string, opts RoomOptions) {
	if r, ok := s.LiveRoom(id); ok {
		r.setOptions(opts)
	}
}

// LiveRoom returns the room id if anyone is in it.
func (s *SFU) LiveRoom(id string) (*Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[id]
	return r, ok
}

// HasMedia reports whether room id has participants or tracks here. A room
// kept open only by observers (an idle broadcast program) has none: its media
// may live on another node.
func (s *SFU) HasMedia(id string) bool {
	r, ok := s.LiveRoom(id)
	return ok && r.hasMedia()
}

// MediaRooms returns the IDs of the rooms with participants or tracks.
func (s *SFU) MediaRooms() []string {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	var ids []string
	for _, r := range rooms {
		if r.hasMedia() {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// EndRoom closes every participant of room id with reason; observers stay.
func (s *SFU) EndRoom(id, reason string) {
	if r, ok := s.LiveRoom(id); ok {
		r.closeAll(reason)
	}
}

// roomEmpty drops r from the registry once its last participant and track are gone.
func (s *SFU) roomEmpty(r *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reg := s.registry(r); reg[r.id] == r && r.empty() {
		delete(reg, r.id)
		s.log.Info("room closed", "room", r.id, "edge", r.edge)
	}
}

// Close ends every participant and closes the media socket.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*Room, 0, len(s.rooms)+len(s.edges))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	for _, r := range s.edges {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		r.closeAll("server shutting down")
	}
	err := s.mux.Close()
	s.conn.Close()
	return err
}
