package sfu

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestStartsWithoutWarnings: a newcomer's first start (media port on every
// interface) logs no warning, while pion's other warnings still get through.
func TestStartsWithoutWarnings(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(Config{UDPPort: 0}, log)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if buf.Len() != 0 {
		t.Errorf("start logged:\n%s", buf.String())
	}
	muxLogger{pionLogger(log).NewLogger("ice")}.Warn("something else")
	if !strings.Contains(buf.String(), "something else") {
		t.Errorf("other warnings are dropped too: %q", buf.String())
	}
}
