package interop

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needNode needs node and the npm packages of js/package.json (npm ci in js/).
func needNode(t *testing.T, pkgs ...string) {
	t.Helper()
	needBin(t, "node")
	for _, pkg := range pkgs {
		p := filepath.Join(jsDir, "node_modules", pkg, "package.json")
		need(t, "npm package "+pkg, fileExists(p), "run npm ci in "+jsDir)
	}
}

// playback is what a page's video element played: its first reading with
// media and its last (common.mjs).
type playback struct {
	First, Last *videoReading
}

type videoReading struct {
	Found            bool    `json:"found"`
	CurrentTime      float64 `json:"currentTime"`
	TotalVideoFrames int     `json:"totalVideoFrames"`
	DroppedFrames    int     `json:"droppedVideoFrames"`
	Width            int     `json:"width"`
	Height           int     `json:"height"`
	Paused           bool    `json:"paused"`
	ReadyState       int     `json:"readyState"`
	Buffered         string  `json:"buffered"` // the element's buffered ranges, "start-end ..."
}

// played returns how much media time and how many frames the element played
// between the two readings.
func (p playback) played() (seconds float64, frames int) {
	if p.First == nil || p.Last == nil {
		return 0, 0
	}
	return p.Last.CurrentTime - p.First.CurrentTime, p.Last.TotalVideoFrames - p.First.TotalVideoFrames
}

// runDriver runs a browser driver of js/ with job and returns the raw JSON
// result of each scenario by name. A scenario that threw has {"error": ...}.
func runDriver(t *testing.T, script string, job any, within time.Duration) map[string]json.RawMessage {
	t.Helper()
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, t.Context(), "node", filepath.Join(jsDir, script), string(b))
	if err := p.wait(t, within); err != nil {
		t.Errorf("node %s: %v", script, err)
	}
	results := map[string]json.RawMessage{}
	for _, line := range strings.Split(p.all(), "\n") {
		rest, ok := strings.CutPrefix(line, "RESULT ")
		if !ok {
			continue
		}
		name, raw, _ := strings.Cut(rest, " ")
		results[name] = json.RawMessage(raw)
	}
	return results
}

// scenario decodes one scenario's result, failing the test if the scenario
// did not run or threw.
func scenario(t *testing.T, results map[string]json.RawMessage, name string, into any) {
	t.Helper()
	raw, ok := results[name]
	if !ok {
		t.Fatalf("scenario %s did not report", name)
	}
	var failed struct{ Error string }
	json.Unmarshal(raw, &failed)
	if failed.Error != "" {
		t.Fatalf("scenario %s: %s", name, failed.Error)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatalf("scenario %s: %v: %s", name, err, raw)
	}
	shown := string(raw)
	if len(shown) > 1500 {
		shown = shown[:1500] + "..."
	}
	t.Logf("%s: %s", name, shown)
}
