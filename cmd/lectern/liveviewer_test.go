package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/internal/peertest"
)

// liveViewer is a pion WHEP viewer that keeps the times of its video: the
// first packet, the latest, and the longest gap since mark. Its methods
// call no testing.T method that must run on the test's goroutine, so a
// player's reconnect may run on a goroutine of its own.
type liveViewer struct {
	node  string
	token string
	pc    *webrtc.PeerConnection
	first chan struct{}
	once  sync.Once
	// Unix nanoseconds: first and latest video packet, the mark, and the
	// longest gap between packets (or from the mark) since the mark.
	firstAt, last, markAt, gap atomic.Int64
	// answered and connected are when the node answered 201 and when the
	// connection came up (Unix nanoseconds).
	answered, connected atomic.Int64
}

// joinLive posts a WHEP offer for room to node at base with token, without
// following redirects, and connects on 201. It returns the status, 0 when
// the node did not answer.
func joinLive(t *testing.T, api *webrtc.API, node, base, room, token string) (*liveViewer, int, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, 0, err
	}
	v := &liveViewer{node: node, token: token, pc: pc, first: make(chan struct{})}
	wait := peertest.OnPackets(pc, func(tr *webrtc.TrackRemote, _ *rtp.Packet) {
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			v.packet(time.Now())
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			v.connected.CompareAndSwap(0, time.Now().UnixNano())
		}
	})
	t.Cleanup(func() {
		pc.Close()
		wait()
	})
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, 0, err
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, 0, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, 0, err
	}
	<-gathered
	req, _ := http.NewRequest("POST", base+"/whep/"+room, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return v, 0, nil
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		return v, res.StatusCode, nil
	}
	v.answered.Store(time.Now().UnixNano())
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return nil, res.StatusCode, fmt.Errorf("apply the answer of %s: %w", node, err)
	}
	return v, res.StatusCode, nil
}

func (v *liveViewer) packet(now time.Time) {
	n := now.UnixNano()
	prev := v.last.Swap(n)
	if m := v.markAt.Load(); m != 0 {
		prev = max(prev, m)
		for g := v.gap.Load(); n-prev > g && !v.gap.CompareAndSwap(g, n-prev); g = v.gap.Load() {
		}
	}
	v.once.Do(func() {
		v.firstAt.Store(n)
		close(v.first)
	})
}

// mark starts measuring the longest gap from at.
func (v *liveViewer) mark(at time.Time) {
	v.gap.Store(0)
	v.markAt.Store(at.UnixNano())
}

// longestGap is the longest time without video since the mark, the
// current silence included.
func (v *liveViewer) longestGap(now time.Time) time.Duration {
	since := max(v.last.Load(), v.markAt.Load())
	return time.Duration(max(v.gap.Load(), now.UnixNano()-since))
}

// silence is how long since the latest video packet (or the join).
func (v *liveViewer) silence(now time.Time) time.Duration {
	return time.Duration(now.UnixNano() - v.last.Load())
}

// receiving reports whether video came within the last half second.
func (v *liveViewer) receiving() bool {
	return v.last.Load() != 0 && v.silence(time.Now()) < 500*time.Millisecond
}

// firstVideo is when the first video packet came (zero if none yet).
func (v *liveViewer) firstVideo() time.Time {
	select {
	case <-v.first:
		return time.Unix(0, v.firstAt.Load())
	default:
		return time.Time{}
	}
}

// closed reports whether the connection is closed: the node ended the
// session (DTLS close_notify closes a pion peer, as it does a browser's).
func (v *liveViewer) closed() bool {
	return v.pc.ConnectionState() == webrtc.PeerConnectionStateClosed
}

// viewerTokens mints n viewer tokens of room "show" through p, with
// identities prefix-0, prefix-1, ...: one identity per session, since a
// node keeps one participant per identity.
func viewerTokens(t *testing.T, p *proc, prefix string, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		code, tok := call(t, "POST", p.url+"/api/v1/tokens", clusterAdminKey,
			fmt.Sprintf(`{"identity":"%s-%d","rooms":{"show":{"preset":"viewer"}}}`, prefix, i))
		out[i], _ = tok["token"].(string)
		if code != 201 || out[i] == "" {
			t.Fatalf("viewer token: %d %v", code, tok)
		}
	}
	return out
}

// joinViewers joins one viewer of "show" through p per token; every join
// must be answered 201.
func joinViewers(t *testing.T, api *webrtc.API, p *proc, tokens []string) []*liveViewer {
	t.Helper()
	var out []*liveViewer
	for _, tok := range tokens {
		v, code, err := joinLive(t, api, p.id, p.url, "show", tok)
		if err != nil || code != http.StatusCreated {
			t.Fatalf("WHEP viewer through %s: %d, %v", p.id, code, err)
		}
		out = append(out, v)
	}
	return out
}

// waitReceiving waits until every viewer receives video.
func waitReceiving(t *testing.T, what string, limit time.Duration, vs []*liveViewer) {
	t.Helper()
	waitFor(t, what, limit, func() bool {
		for _, v := range vs {
			if !v.receiving() {
				return false
			}
		}
		return true
	})
}

// longestGapOf is the longest gap since the mark among vs, and the node of
// the viewer that had it.
func longestGapOf(vs []*liveViewer, now time.Time) (time.Duration, string) {
	var gap time.Duration
	node := ""
	for _, v := range vs {
		if g := v.longestGap(now); g > gap {
			gap, node = g, v.node
		}
	}
	return gap, node
}

// markAll starts measuring every viewer's gaps from at.
func markAll(vs []*liveViewer, at time.Time) {
	for _, v := range vs {
		v.mark(at)
	}
}

// spread is the median and the maximum of ds.
func spread(ds []time.Duration) (p50, most time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// comeback is how a viewer that lost its session came back, as a player
// does.
type comeback struct {
	from    string      // the node it was on
	viewer  *liveViewer // the new session; nil if none
	noticed time.Time   // when the player noticed: its watchdog, or its connection closing
	told    bool        // the node closed the connection, rather than going silent
	video   time.Time   // first video of the new session
	refused []int       // the answers before the 201 (0: no answer)
	err     error
}

// comeBack plays a player with a watchdog: once old has had no video for
// watchdog, or its connection was closed, it closes it and joins again with
// the same token through the nodes of via in turn (as a load balancer in
// front of them would) until one answers 201, then waits for video; all
// within limit.
func comeBack(t *testing.T, api *webrtc.API, old *liveViewer, watchdog, limit time.Duration, via ...*proc) comeback {
	deadline := time.Now().Add(limit)
	cb := comeback{from: old.node}
	for {
		now := time.Now()
		if old.closed() {
			cb.told = true
			break
		}
		if old.silence(now) >= watchdog {
			break
		}
		if now.After(deadline) {
			cb.err = fmt.Errorf("the viewer on %s was neither silent nor closed within %v", old.node, limit)
			return cb
		}
		time.Sleep(10 * time.Millisecond) // the player's watchdog, polling
	}
	cb.noticed = time.Now()
	old.pc.Close()
	for i := 0; ; i++ {
		p := via[i%len(via)]
		v, code, err := joinLive(t, api, p.id, p.url, "show", old.token)
		if err != nil {
			cb.err = err
			return cb
		}
		if code == http.StatusCreated {
			cb.viewer = v
			break
		}
		v.pc.Close()
		cb.refused = append(cb.refused, code)
		if time.Now().After(deadline) {
			cb.err = fmt.Errorf("the viewer from %s was not served again within %v (last: %s answered %d)", old.node, limit, p.id, code)
			return cb
		}
		time.Sleep(100 * time.Millisecond) // the player's back-off
	}
	select {
	case <-cb.viewer.first:
		cb.video = cb.viewer.firstVideo()
	case <-time.After(time.Until(deadline)):
		cb.err = fmt.Errorf("the viewer from %s, served again by %s, got no video within %v", old.node, cb.viewer.node, limit)
	}
	return cb
}

// comeBackAll runs comeBack for every viewer of olds at once and returns
// the outcomes in their order.
func comeBackAll(t *testing.T, api *webrtc.API, olds []*liveViewer, watchdog, limit time.Duration, via ...*proc) []comeback {
	out := make([]comeback, len(olds))
	var wg sync.WaitGroup
	for i, v := range olds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = comeBack(t, api, v, watchdog, limit, via...)
		}()
	}
	wg.Wait()
	return out
}

// stages is where a comeback's time went, as medians: from t0 to the
// player noticing, to the node's 201, to the connection up, to video.
func stages(cbs []comeback, t0 time.Time) string {
	var notice, answer, connect, video []time.Duration
	for _, cb := range cbs {
		if cb.viewer == nil || cb.video.IsZero() {
			continue
		}
		ans, con := time.Unix(0, cb.viewer.answered.Load()), time.Unix(0, cb.viewer.connected.Load())
		notice = append(notice, cb.noticed.Sub(t0))
		answer = append(answer, ans.Sub(cb.noticed))
		connect = append(connect, con.Sub(ans))
		video = append(video, cb.video.Sub(con))
	}
	r := func(ds []time.Duration) string {
		p50, most := spread(ds)
		return p50.Round(time.Millisecond).String() + "/" + most.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("noticed %s, 201 %s later, connected %s later, video %s later (p50/max)", r(notice), r(answer), r(connect), r(video))
}

// slowestAnswer is the longest a comeback's WHEP POST waited for its answer.
func slowestAnswer(cbs []comeback) time.Duration {
	var most time.Duration
	for _, cb := range cbs {
		if cb.viewer == nil || cb.viewer.answered.Load() == 0 {
			continue
		}
		most = max(most, time.Unix(0, cb.viewer.answered.Load()).Sub(cb.noticed))
	}
	return most
}

// returned checks the comebacks and returns the new viewers and the times
// from t0 to their first video.
func returned(t *testing.T, cbs []comeback, t0 time.Time) ([]*liveViewer, []time.Duration) {
	t.Helper()
	var vs []*liveViewer
	var ds []time.Duration
	for _, cb := range cbs {
		if cb.err != nil {
			t.Fatal(cb.err)
		}
		vs = append(vs, cb.viewer)
		ds = append(ds, cb.video.Sub(t0))
	}
	return vs, ds
}
