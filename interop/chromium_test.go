package interop

import (
	"encoding/json"
	"testing"
	"time"
)

// TestChromiumLLHLS: the newest hls.js and Shaka Player from npm play the
// room's LL-HLS in Debian's Chromium, in low-latency mode, on a page of their
// own. Each must play 8 s of media with the video element's decoded frames
// growing; hls.js must report no fatal error, and Shaka no error at all (it
// reports a 404 of a preload hint as error 1001).
func TestChromiumLLHLS(t *testing.T) {
	needBin(t, chromiumBin)
	needNode(t, "playwright-core", "hls.js", "shaka-player")
	s, room := programRoom(t)
	const seconds = 8
	results := runDriver(t, "chromium.mjs", map[string]any{
		"chromium": chromiumBin, "origin": s.URL, "seconds": seconds,
		"scenarios": []map[string]any{
			{"name": "hlsjs", "player": "hlsjs", "url": s.hlsURL(t, room)},
			{"name": "shaka", "player": "shaka", "url": s.hlsURL(t, room)},
		},
	}, 3*time.Minute)
	for _, player := range []string{"hlsjs", "shaka"} {
		t.Run(player, func(t *testing.T) {
			var r struct {
				Version                string
				Latency                float64
				Errors                 []map[string]any
				ErrorCount, FatalCount int
				playback
			}
			scenario(t, results, player, &r)
			if played, frames := r.played(); played < seconds || frames < seconds*20 {
				t.Errorf("%s %s played %.1f s and %d frames, want %d s and %d", player, r.Version, played, frames, seconds, seconds*20)
			}
			if r.Last != nil && (r.Last.Width != 640 || r.Last.Height != 360) {
				t.Errorf("video %dx%d, want 640x360", r.Last.Width, r.Last.Height)
			}
			bad := r.FatalCount
			if player == "shaka" {
				bad = r.ErrorCount
			}
			if bad > 0 {
				first, _ := json.Marshal(r.Errors)
				t.Errorf("%s %s: %d error events (%d in all), the first: %s", player, r.Version, bad, r.ErrorCount, first)
			}
			t.Logf("%s %s: live latency %.2f s", player, r.Version, r.Latency)
		})
	}
}
