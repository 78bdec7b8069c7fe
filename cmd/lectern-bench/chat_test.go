package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"lectern/storage/storagetest"
)

// TestChatBench runs the chat bench briefly on both backends, for
// correctness: every message stored and delivered to every client.
func TestChatBench(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		var out bytes.Buffer
		args := []string{"chat", "--server-bin", serverBinary(t), "--clients", "8", "--rate", "40", "--duration", "1s"}
		if b.DatabaseURL != "" {
			args = append(args, "--database-url", b.DatabaseURL)
		}
		if err := run(t.Context(), args, &out); err != nil {
			t.Fatalf("bench: %v\n%s", err, out.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		row := lines[len(lines)-1]
		if !strings.HasPrefix(row, "| "+b.Name+" | 8 × 40 × 1s | 40 | 40 | 40 | 320 (of 320) | 0 | 0 |") {
			t.Fatalf("report:\n%s", out.String())
		}
		t.Log(row)
	})
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := range 100 {
		h.add(timeMS(i + 1)) // 1..100 ms
	}
	if got := h.quantile(0.5); got < timeMS(50) || got > timeMS(52) {
		t.Errorf("p50 = %v", got)
	}
	if got := h.quantile(0.99); got < timeMS(99) || got > timeMS(110) {
		t.Errorf("p99 = %v", got)
	}
	if h.count() != 100 || h.max != timeMS(100) {
		t.Errorf("count %d, max %v", h.count(), h.max)
	}
}

func TestChatFrameScan(t *testing.T) {
	c := &chatClient{errs: map[string]int64{}}
	frame := []byte(`{"type":"chat","events":[{"type":"message","message":{"id":5,"seq":5,"room":"r","from":"a","from_name":"A","kind":"message","text":"b 1000","created_at":"x"}},` +
		`{"type":"message","message":{"id":6,"seq":6,"room":"r","from":"x","from_name":"X","kind":"message","text":"not ours","created_at":"x"}},` +
		`{"type":"message","message":{"id":7,"seq":7,"room":"r","from":"a","from_name":"A","kind":"message","text":"b 2000","created_at":"x"}}]}`)
	c.events(frame, 3000)
	if c.received.Load() != 2 || c.lastSeq != 7 || c.stats.disorder != 0 || c.stats.latency.max != 2000 {
		t.Errorf("received %d, last seq %d, disorder %d, max %v", c.received.Load(), c.lastSeq, c.stats.disorder, c.stats.latency.max)
	}
	c.events(frame, 3000) // the same seqs again
	if c.stats.disorder != 3 {
		t.Errorf("disorder = %d, want 3", c.stats.disorder)
	}
}

func timeMS(n int) time.Duration { return time.Duration(n) * time.Millisecond }
