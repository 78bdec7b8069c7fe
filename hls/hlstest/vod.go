package hlstest

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Duration runs ffprobe on url and returns the duration of what it holds
// (a VOD playlist: the sum of its segments).
func Duration(t testing.TB, url string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", url, err, stderr.String())
	}
	var res struct {
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe output: %v: %s", err, out)
	}
	secs, err := strconv.ParseFloat(res.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", res.Format.Duration, err)
	}
	return time.Duration(secs * float64(time.Second))
}
