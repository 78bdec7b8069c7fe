package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// spoolEntry is a segment's line in a recording's spool journal
// (hls/record/spool.go).
type spoolEntry struct {
	File       string    `json:"file"`
	DurationUS int64     `json:"dur_us"`
	PDT        time.Time `json:"pdt"`
}

// spoolJournal reads the segments journaled in a spool directory.
func spoolJournal(t *testing.T, dir string) []spoolEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []spoolEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e spoolEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && strings.HasSuffix(e.File, ".m4s") {
			out = append(out, e)
		}
	}
	return out
}

// spoolPending lists the segment files waiting in a spool directory.
func spoolPending(t *testing.T, dir string) []string {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if n := f.Name(); strings.HasSuffix(n, ".m4s") && !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

func journaledDuration(es []spoolEntry) (d time.Duration) {
	for _, e := range es {
		d += time.Duration(e.DurationUS) * time.Microsecond
	}
	return d
}

// journalEnd is when the last journaled segment's media ended.
func journalEnd(es []spoolEntry) time.Time {
	if len(es) == 0 {
		return time.Time{}
	}
	last := es[len(es)-1]
	return last.PDT.Add(time.Duration(last.DurationUS) * time.Microsecond)
}

// checkLoss checks that the segments node a journaled and the recording's
// playlist lacks are those that waited in its spool when it was killed,
// and that the segment it was cutting then held at most one segment's
// worth (2 s, with room for a loaded machine). It returns what was lost.
func checkLoss(t *testing.T, playlist string, journaled []spoolEntry, pending []string, killed time.Time) time.Duration {
	t.Helper()
	listed := map[string]bool{}
	for _, l := range strings.Split(playlist, "\n") {
		listed[l] = true
	}
	var lost, waiting []string
	var loss time.Duration
	for _, e := range journaled {
		if !listed[e.File] {
			lost = append(lost, e.File)
			loss += time.Duration(e.DurationUS) * time.Microsecond
		}
		if slices.Contains(pending, e.File) {
			waiting = append(waiting, e.File)
		}
	}
	// A file in the spool and not yet journaled (killed between the two)
	// is the segment being cut. A file still in the spool may have reached
	// the store, indexed, just before the kill (it leaves the spool after
	// that): what is lost is at most what waited there.
	if len(waiting) == 0 || slices.ContainsFunc(lost, func(f string) bool { return !slices.Contains(waiting, f) }) {
		t.Errorf("segments lost: %v; journaled and waiting in node a's spool at the kill: %v", lost, waiting)
	}
	// The kill comes just after a segment was journaled: the segment being
	// cut then holds next to nothing (the journal's end, from the first
	// sample's date and the durations, can fall a few tens of ms after it).
	if open := killed.Sub(journalEnd(journaled)); open > 4*time.Second {
		t.Errorf("the segment being cut at the kill held %v", open)
	}
	return loss
}

// checkTimeline decodes the recording with ffprobe and checks that it is
// one timeline: every stream's frame times increase, video frames follow
// each other without a gap (at the join of two parts too), and the video
// lasts as long as the playlist says (want). It returns the figures.
func checkTimeline(t *testing.T, url string, want time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "frame=media_type,pts_time", "-of", "json", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe frames of %s: %v: %s", url, err, stderr.String())
	}
	var res struct {
		Frames []struct {
			MediaType string `json:"media_type"`
			PTSTime   string `json:"pts_time"`
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	times := map[string][]float64{}
	for _, f := range res.Frames {
		if v, err := strconv.ParseFloat(f.PTSTime, 64); err == nil {
			times[f.MediaType] = append(times[f.MediaType], v)
		}
	}
	var figures []string
	for _, kind := range []string{"video", "audio"} {
		ts := times[kind]
		if len(ts) < 2 {
			t.Errorf("ffprobe decoded %d %s frames", len(ts), kind)
			continue
		}
		step, at, back := 0.0, 0.0, 0
		for i := 1; i < len(ts); i++ {
			if d := ts[i] - ts[i-1]; d <= 0 {
				if back++; back <= 3 {
					t.Errorf("%s frame %d at %.3f s comes after one at %.3f s", kind, i, ts[i], ts[i-1])
				}
			} else if d > step {
				step, at = d, ts[i-1]
			}
		}
		span := ts[len(ts)-1] - ts[0]
		figures = append(figures, fmt.Sprintf("%d %s frames over %.3f s, largest step %.3f s at %.3f s, %d back", len(ts), kind, span, step, at, back))
		// The video: 25 fps, so a frame more than a frame's time away is
		// a gap; a few frames' more for the audio, whose first frame of a
		// part may come after the video's.
		limit := map[string]float64{"video": 0.2, "audio": 1}[kind]
		if step > limit {
			t.Errorf("%s frames %.3f s apart at %.3f s: a gap in the timeline", kind, step, at)
		}
		if kind == "video" {
			if d := span + 0.04 - want.Seconds(); d < -0.25 || d > 0.25 {
				t.Errorf("decoded video lasts %.3f s, the playlist %v", span+0.04, want)
			}
		}
	}
	return strings.Join(figures, "; ")
}

// checkGohlslib plays the recording in dir (its playlist and files) with
// gohlslib's client, a player that takes the fMP4 decode times as they are
// (it paces its output by them) and the first EXT-X-MAP for all segments,
// and checks that it is one
// timeline there too: the video's decode times and the audio's times
// increase, without a gap, and the video lasts as the playlist says.
func checkGohlslib(t *testing.T, dir string, want time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	var mu sync.Mutex
	times := map[string][]float64{}
	add := func(kind string, v int64, rate int) {
		mu.Lock()
		times[kind] = append(times[kind], float64(v)/float64(rate))
		mu.Unlock()
	}
	c := &gohlslib.Client{URI: srv.URL + "/index.m3u8", HTTPClient: &http.Client{Timeout: 20 * time.Second}}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			switch tr.Codec.(type) {
			case *codecs.H264:
				c.OnDataH26x(tr, func(_, dts int64, _ [][]byte) { add("video", dts, tr.ClockRate) })
			case *codecs.Opus:
				c.OnDataOpus(tr, func(pts int64, _ [][]byte) { add("audio", pts, tr.ClockRate) })
			}
		}
		return nil
	}
	start := time.Now()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait2() }()
	select {
	case err := <-done:
		if !errors.Is(err, gohlslib.ErrClientEOS) {
			t.Errorf("gohlslib: %v", err)
		}
	case <-time.After(time.Minute):
		c.Close()
		<-done
		t.Errorf("gohlslib did not reach the end of the recording within a minute")
	}
	mu.Lock()
	defer mu.Unlock()
	figures := []string{fmt.Sprintf("played in %v", time.Since(start).Round(time.Millisecond))}
	for _, kind := range []string{"video", "audio"} {
		ts := times[kind]
		if len(ts) < 2 {
			t.Errorf("gohlslib gave %d %s frames", len(ts), kind)
			continue
		}
		step, back := 0.0, 0
		for i := 1; i < len(ts); i++ {
			if d := ts[i] - ts[i-1]; d <= 0 {
				back++
			} else {
				step = max(step, d)
			}
		}
		span := ts[len(ts)-1] - ts[0]
		figures = append(figures, fmt.Sprintf("%d %s frames over %.3f s, largest step %.3f s, %d back", len(ts), kind, span, step, back))
		if back > 0 || step > map[string]float64{"video": 0.2, "audio": 1}[kind] {
			t.Errorf("gohlslib: %s times went back %d times, largest step %.3f s", kind, back, step)
		}
		if d := span + 0.04 - want.Seconds(); kind == "video" && (d < -0.25 || d > 0.25) {
			t.Errorf("gohlslib: video lasts %.3f s, the playlist %v", span+0.04, want)
		}
	}
	return strings.Join(figures, "; ")
}
