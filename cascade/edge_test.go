package cascade

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
	"lectern/sfu"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newSFU(t *testing.T) *sfu.SFU {
	t.Helper()
	s, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// whepOrigin serves WHEP (POST with ?layer=, DELETE) on media, as the
// owner node's API does, without credentials; its answers send the media
// through link.
func whepOrigin(t *testing.T, media *sfu.SFU, link *lossyLink) *httptest.Server {
	var (
		mu    sync.Mutex
		parts = map[string]*sfu.Participant{}
		n     atomic.Int64
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whep/{room}", func(w http.ResponseWriter, r *http.Request) {
		offer, _ := io.ReadAll(r.Body)
		room, err := media.Room(r.PathValue("room"), sfu.RoomOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		p, err := room.Join(sfu.ParticipantOptions{Identity: "pull-" + string(rune('a'+n.Add(1))), Kind: sfu.KindWHEP, Permissions: access.Subscribe})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		answer, err := p.ViewLayer(string(offer), r.URL.Query().Get("layer"))
		if err != nil {
			p.Close("refused")
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		parts[p.ID()] = p
		mu.Unlock()
		real := media.UDPAddr().(*net.UDPAddr)
		answer = strings.ReplaceAll(answer, fmt.Sprintf(" 127.0.0.1 %d typ", real.Port), fmt.Sprintf(" 127.0.0.1 %d typ", link.port()))
		w.Header().Set("Location", "/whep/"+r.PathValue("room")+"/"+p.ID())
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, answer)
	})
	mux.HandleFunc("DELETE /whep/{room}/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		p := parts[r.PathValue("id")]
		mu.Unlock()
		if p != nil {
			p.Close("ended by the edge")
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestEdgeRepairsLossAndRelaysPLI: packets lost between the owner and the
// edge are NACKed by the edge and resent by the owner from its cache, so a
// viewer on the edge misses none; a viewer's PLI on the edge reaches the
// publisher on the owner.
func TestEdgeRepairsLossAndRelaysPLI(t *testing.T) {
	origin, local := newSFU(t), newSFU(t)
	video, sender := publishTalk(t, origin)
	var plis atomic.Int64
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					plis.Add(1)
				}
			}
		}
	}()
	var keys atomic.Bool
	keys.Store(true)
	peertest.Pump(t, 5*time.Millisecond, func(i int) {
		payload := []byte{0x10, 0x01, 0, 1}
		if keys.Load() && i%30 == 0 {
			payload = []byte{0x10, 0x00, 0x9d, 1}
		}
		video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload})
	})

	edges, err := New(Config{Token: func(string, string) (string, error) { return "node", nil }, Loopback: true}, local, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edges.Close)
	// The link from the owner to the edge loses every twentieth video
	// packet once: a retransmission passes.
	var dropMu sync.Mutex
	dropped := map[uint64]bool{}
	var drops atomic.Int64
	link := newLossyLink(t, origin.UDPAddr().(*net.UDPAddr), func(b []byte) bool {
		if len(b) < 12 || b[0] < 128 || b[0] >= 192 || b[1]&0x7f < 96 {
			return false // not RTP media: STUN, DTLS, RTCP
		}
		seq := binary.BigEndian.Uint16(b[2:4])
		key := uint64(binary.BigEndian.Uint32(b[8:12]))<<16 | uint64(seq)
		dropMu.Lock()
		defer dropMu.Unlock()
		if seq%20 != 3 || dropped[key] {
			return false
		}
		dropped[key] = true
		drops.Add(1)
		return true
	})
	srv := whepOrigin(t, origin, link)
	edgeRoom, release, err := edges.Acquire(t.Context(), "talk", srv.URL, sfu.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	viewer, err := edgeRoom.Join(sfu.ParticipantOptions{Identity: "viewer", Kind: sfu.KindWHEP, Permissions: access.Subscribe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { viewer.Close("test over") })
	vpc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	if _, err := vpc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	var (
		mu            sync.Mutex
		seen          = map[uint16]bool{}
		first, newest uint16
		more          = make(chan struct{}, 1)
	)
	peertest.ReadTracks(t, vpc, func(_ *webrtc.TrackRemote, pkt *rtp.Packet) {
		mu.Lock()
		if len(seen) == 0 {
			first, newest = pkt.SequenceNumber, pkt.SequenceNumber
		}
		if int16(pkt.SequenceNumber-newest) > 0 {
			newest = pkt.SequenceNumber
		}
		seen[pkt.SequenceNumber] = true
		mu.Unlock()
		select {
		case more <- struct{}{}:
		default:
		}
	})
	answer, err := viewer.View(peertest.Offer(t, vpc))
	if err != nil {
		t.Fatal(err)
	}
	peertest.Accept(t, vpc, answer)

	// 400 packets in, every one up to 50 behind the newest has arrived.
	deadline := time.After(15 * time.Second)
	for {
		mu.Lock()
		span := int(uint16(newest - first))
		missing := 0
		for s := first; int16(s-(newest-50)) < 0; s++ {
			if !seen[s] {
				missing++
			}
		}
		mu.Unlock()
		if span > 400 && missing == 0 {
			break
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("after %d packets the viewer on the edge misses %d (the link lost %d)", span, missing, drops.Load())
		}
	}
	st := local.Stats()
	if drops.Load() == 0 || st.Recovered == 0 {
		t.Fatalf("the link lost %d packets, the edge recovered %d (NACKed %d)", drops.Load(), st.Recovered, st.NACKed)
	}
	t.Logf("the link lost %d packets; the edge NACKed %d and recovered %d; the viewer missed none", drops.Load(), st.NACKed, st.Recovered)

	// Keyframes stop; a PLI from the viewer on the edge reaches the publisher.
	keys.Store(false)
	before := plis.Load()
	ssrc := uint32(vpc.GetReceivers()[0].Track().SSRC())
	tick := time.NewTicker(100 * time.Millisecond) // a player's repeated PLI
	defer tick.Stop()
	deadline = time.After(10 * time.Second)
	for plis.Load() == before {
		vpc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("a PLI from the edge's viewer did not reach the publisher")
		}
	}
}

// lossyLink is a UDP relay on loopback between peers and up (the owner's
// media port): one upstream socket per peer, so up sees each peer as a
// distinct address; packets from up for which drop says so are lost.
type lossyLink struct {
	up   *net.UDPAddr
	conn *net.UDPConn
	drop func([]byte) bool
	wg   sync.WaitGroup

	mu    sync.Mutex
	peers map[string]*net.UDPConn
}

func newLossyLink(t *testing.T, up *net.UDPAddr, drop func([]byte) bool) *lossyLink {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l := &lossyLink{up: up, conn: conn, drop: drop, peers: map[string]*net.UDPConn{}}
	l.wg.Add(1)
	go l.fromPeers()
	t.Cleanup(l.close)
	return l
}

func (l *lossyLink) port() int { return l.conn.LocalAddr().(*net.UDPAddr).Port }

// fromPeers passes what peers send up, each through its own socket.
func (l *lossyLink) fromPeers() {
	defer l.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		l.mu.Lock()
		upc := l.peers[from.String()]
		if upc == nil {
			if upc, err = net.DialUDP("udp4", nil, l.up); err != nil {
				l.mu.Unlock()
				continue
			}
			l.peers[from.String()] = upc
			l.wg.Add(1)
			go l.toPeer(upc, from)
		}
		l.mu.Unlock()
		upc.Write(buf[:n])
	}
}

// toPeer passes what up sends back to the peer, less what drop takes.
func (l *lossyLink) toPeer(upc *net.UDPConn, peer *net.UDPAddr) {
	defer l.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, err := upc.Read(buf)
		if err != nil {
			return
		}
		if !l.drop(buf[:n]) {
			l.conn.WriteToUDP(buf[:n], peer)
		}
	}
}

func (l *lossyLink) close() {
	l.conn.Close()
	l.mu.Lock()
	for _, c := range l.peers {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// publishTalk has a host publish a VP8 camera from a pion peer into origin's
// room "talk" until the test ends; it returns the camera's track and sender.
func publishTalk(t *testing.T, origin *sfu.SFU) (*webrtc.TrackLocalStaticRTP, *webrtc.RTPSender) {
	t.Helper()
	room, err := origin.Room("talk", sfu.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	host, err := room.Join(sfu.ParticipantOptions{Identity: "host", Kind: sfu.KindBrowser, Permissions: access.Publish})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close("test over") })
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	video, sender := peertest.SendTrack(t, pc, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", "pub")
	answer, err := host.Publish(peertest.Offer(t, pc), map[string]string{"cam": sfu.SourceCamera})
	if err != nil {
		t.Fatal(err)
	}
	peertest.Accept(t, pc, answer)
	return video, sender
}
