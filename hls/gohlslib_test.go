package hls

import (
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// playDuration is how long TestGohlslibClient plays: 20 s, or
// LECTERN_HLS_PLAY (a Go duration, "10m" for the long run in docs/hls.md).
func playDuration(t *testing.T) time.Duration {
	v := os.Getenv("LECTERN_HLS_PLAY")
	if v == "" {
		return 20 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("LECTERN_HLS_PLAY=%q: want a duration such as 10m", v)
	}
	return d
}

// TestGohlslibClient: gohlslib's LL-HLS client, a player nobody here wrote,
// plays a simulcast broadcast for playDuration without an error (it stops
// at the first failed request, a preload hint's included), receiving video
// and audio all along, keyframes included, and never stalling for long.
func TestGohlslibClient(t *testing.T) {
	play := playDuration(t)
	b := newTestBroadcast(t, DefaultConfig())
	simulcastBroadcast(t, b, "gohlslib")

	var video, audio, idr, parts, decodeErrors atomic.Int64
	var lastFrame atomic.Int64 // unix nanoseconds
	c := &gohlslib.Client{
		URI:        b.url + "/hls/gohlslib/index.m3u8",
		HTTPClient: &http.Client{Timeout: 20 * time.Second},
	}
	c.OnDownloadPart = func(string) { parts.Add(1) }
	c.OnDownloadPrimaryPlaylist = func(string) {}
	c.OnDownloadStreamPlaylist = func(string) {}
	c.OnDownloadSegment = func(string) {}
	c.OnDecodeError = func(err error) {
		if decodeErrors.Add(1) <= 5 {
			t.Logf("gohlslib decode error: %v", err)
		}
	}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			switch tr.Codec.(type) {
			case *codecs.H264:
				c.OnDataH26x(tr, func(_, _ int64, au [][]byte) {
					video.Add(1)
					if h264.IsRandomAccess(au) {
						idr.Add(1)
					}
					lastFrame.Store(time.Now().UnixNano())
				})
			case *codecs.Opus:
				c.OnDataOpus(tr, func(_ int64, packets [][]byte) { audio.Add(int64(len(packets))) })
			default:
				t.Errorf("unexpected track %T", tr.Codec)
			}
		}
		return nil
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait2() }()
	defer func() {
		c.Close()
		<-done
	}()

	// The client starts a few segments back; its first frame comes within
	// seconds. From then on it must play for play, never going 5 s without
	// a frame.
	start := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var playing time.Time
	var longestGap time.Duration
	for {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("gohlslib stopped after %v (%d frames, %d parts): %v", time.Since(start).Round(time.Millisecond), video.Load(), parts.Load(), err)
		case <-t.Context().Done():
			return
		case now := <-tick.C:
			last := lastFrame.Load()
			if playing.IsZero() {
				if last != 0 {
					playing = time.Unix(0, last)
					t.Logf("first frame after %v", playing.Sub(start).Round(time.Millisecond))
				} else if now.Sub(start) > 20*time.Second {
					t.Fatalf("no frame in 20 s (%d parts downloaded)", parts.Load())
				}
				continue
			}
			gap := now.Sub(time.Unix(0, last))
			longestGap = max(longestGap, gap)
			if gap > 5*time.Second {
				t.Fatalf("no frame for %v after %v of play (%d frames)", gap.Round(time.Millisecond), now.Sub(playing).Round(time.Second), video.Load())
			}
		}
		if !playing.IsZero() && time.Since(playing) >= play {
			break
		}
	}
	// 25 frames a second published; a loaded machine may deliver some late,
	// none may go missing for long (checked above).
	secs := play.Seconds()
	t.Logf("played %v: %d video frames (%d keyframes), %d Opus packets, %d parts, %d decode errors, longest gap between frames %v",
		play, video.Load(), idr.Load(), audio.Load(), parts.Load(), decodeErrors.Load(), longestGap.Round(time.Millisecond))
	if v := video.Load(); float64(v) < 25*secs*0.8 {
		t.Errorf("%d video frames in %v, want about %d", v, play, int(25*secs))
	}
	if a := audio.Load(); float64(a) < 50*secs*0.8 {
		t.Errorf("%d Opus packets in %v, want about %d", a, play, int(50*secs))
	}
	if k := idr.Load(); float64(k) < secs*0.8 {
		t.Errorf("%d keyframes in %v, want one a second", k, play)
	}
	if n := decodeErrors.Load(); n > 0 {
		t.Errorf("%d decode errors", n)
	}
}
