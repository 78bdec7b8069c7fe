package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

type webrtcAPI = *webrtc.API

// whepBenchViewer is a receive-only pion peer on a node's WHEP endpoint,
// measuring its video with streamStats. Its reader goroutines end when
// close closes the connection, which waits for them.
type whepBenchViewer struct {
	pc    *webrtc.PeerConnection
	st    *streamStats
	first chan struct{}
	wg    sync.WaitGroup

	// last is when the latest video packet arrived (unix nanoseconds);
	// gap is the longest wait between two since trackGaps (nanoseconds).
	last, gap, firstNanos atomic.Int64
	gaps                  atomic.Bool
	once                  sync.Once
	// bytes counts the video RTP bytes received since the window's start.
	bytes atomic.Uint64
}

// startWHEPViewer connects a viewer to base's WHEP endpoint for room and
// returns once the server answered (a redirect is followed).
func startWHEPViewer(ctx context.Context, api webrtcAPI, base, room, token string) (*whepBenchViewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &whepBenchViewer{pc: pc, st: &streamStats{video: true, clock: 90000}, first: make(chan struct{})}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		pc.Close()
		return nil, err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		v.wg.Add(2)
		go func() {
			defer v.wg.Done()
			for {
				if _, _, err := recv.ReadRTCP(); err != nil {
					return
				}
			}
		}()
		go v.read(tr)
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		pc.Close()
		return nil, err
	}
	<-gathered
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/whep/"+room, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		pc.Close()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/sdp")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		pc.Close()
		return nil, err
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		pc.Close()
		return nil, fmt.Errorf("WHEP %s: %s", res.Status, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		pc.Close()
		return nil, err
	}
	return v, nil
}

func (v *whepBenchViewer) read(tr *webrtc.TrackRemote) {
	defer v.wg.Done()
	buf := make([]byte, 1500)
	var h rtp.Header
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		hn, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		v.st.packet(h.SequenceNumber, h.Timestamp, buf[hn:n], now)
		v.bytes.Add(uint64(n))
		prev := v.last.Swap(now.UnixNano())
		if v.gaps.Load() && prev != 0 {
			if d := now.UnixNano() - prev; d > v.gap.Load() {
				v.gap.Store(d)
			}
		}
		v.once.Do(func() {
			v.firstNanos.Store(now.UnixNano())
			close(v.first)
		})
	}
}

// trackGaps starts keeping the longest gap between video packets.
func (v *whepBenchViewer) trackGaps() { v.gaps.Store(true) }

// maxGap is the longest gap since trackGaps, or since the last packet if
// none came after it.
func (v *whepBenchViewer) maxGap() time.Duration {
	gap := time.Duration(v.gap.Load())
	if last := v.last.Load(); last != 0 {
		gap = max(gap, time.Since(time.Unix(0, last)))
	}
	return gap
}

// waitSilent waits, as a player's watchdog does, until no video packet has
// come for silence, polling; it gives up after limit.
func (v *whepBenchViewer) waitSilent(ctx context.Context, silence, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Since(time.Unix(0, v.last.Load())) < silence {
		if time.Now().After(deadline) {
			return fmt.Errorf("the viewer kept receiving for %v", limit)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// waitFirst waits for the first video packet.
func (v *whepBenchViewer) waitFirst(ctx context.Context, limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-v.first:
		return nil
	case <-t.C:
		return fmt.Errorf("no video within %v", limit)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (v *whepBenchViewer) firstAt() time.Time { return time.Unix(0, v.firstNanos.Load()) }

func (v *whepBenchViewer) close() {
	v.pc.Close()
	v.wg.Wait()
}

// viewerGroup are the viewers on one node.
type viewerGroup struct {
	name    string
	viewers []*whepBenchViewer
}

func (g *viewerGroup) reset() {
	for _, v := range g.viewers {
		v.st.reset()
		v.bytes.Store(0)
	}
}

// groupWindow is what a group received in the window.
type groupWindow struct {
	name    string
	viewers int
	w       streamWindow
	bytes   uint64
}

func (g *viewerGroup) window() groupWindow {
	out := groupWindow{name: g.name, viewers: len(g.viewers)}
	for _, v := range g.viewers {
		out.w.add(v.st.snapshot())
		out.bytes += v.bytes.Load()
	}
	return out
}

// fetchText GETs url and returns the body.
func fetchText(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return string(body), nil
}
