package hls

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestViewerCount(t *testing.T) {
	var v viewers
	t0 := time.Unix(1000, 0)
	v.saw("a", t0)
	v.saw("b", t0.Add(time.Second))
	v.saw("a", t0.Add(2*time.Second))
	if n := v.count(t0.Add(2 * time.Second)); n != 2 {
		t.Errorf("two viewers, three requests: count %d", n)
	}
	// b's last request leaves the window first.
	if n := v.count(t0.Add(time.Second + ViewerWindow + time.Millisecond)); n != 1 {
		t.Errorf("after b left: count %d", n)
	}
	if n := v.count(t0.Add(2*time.Second + ViewerWindow + time.Millisecond)); n != 0 {
		t.Errorf("after both left: count %d", n)
	}
	// The count is bounded; those already counted go on counting.
	later := t0.Add(time.Hour)
	for i := range maxViewers + 10 {
		v.saw(fmt.Sprint(i), later)
	}
	if n := v.count(later); n != maxViewers {
		t.Errorf("count %d, want the bound %d", n, maxViewers)
	}
}

func TestViewerOf(t *testing.T) {
	req := httptest.NewRequest("GET", "/hls/r/s/t/0.m3u8", nil)
	req.RemoteAddr = "192.0.2.7:51000"
	req.Header.Set("User-Agent", "player/1")
	if got := viewerOf(req); got != "192.0.2.7 player/1" {
		t.Errorf("viewer without a name from the API: %q", got)
	}
	if got := viewerOf(req.WithContext(WithViewer(req.Context(), "203.0.113.9 player/1"))); got != "203.0.113.9 player/1" {
		t.Errorf("viewer named by the API: %q", got)
	}
}
