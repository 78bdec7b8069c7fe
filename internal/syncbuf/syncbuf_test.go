package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// TestWriteWhileReading: writers and a reader at once (run with -race); every
// write is kept whole.
func TestWriteWhileReading(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 400 {
		t.Errorf("%d lines, want 400", got)
	}
}
