package api

import (
	"testing"
	"time"

	"lectern/access"
	"lectern/storage/storagetest"
)

// encoding is one of the page's simulcast encodings (window.encodings).
type encoding struct {
	RID    string
	Active bool
}

// TestBrowserDynacast: Chromium publishes three simulcast layers; when the
// only viewer shows the camera as a thumbnail the publisher's page stops
// encoding the layers above q that the server has (publish_layers), and when
// the tile grows every layer is on again.
func TestBrowserDynacast(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "dyn", "name": "Dyn"})
	site := browserSite(t, a)

	viewer := openPage(t, browser, site, "viewer")
	host := openPage(t, browser, site, "host")
	evalJS[string](t, viewer, "watch", "dyn", a.tokenFor("viewer", "dyn", access.Member))
	evalJS[string](t, host, "publishSimulcast", "dyn", a.tokenFor("host", "dyn", access.Host))
	defer func() {
		if t.Failed() {
			t.Logf("host's report: %s", host.reportText())
		}
	}()
	var camera string
	waitFor(t, viewer, uiWait, "camera decoded", func(r browserReport) bool {
		if tr := r.track("camera"); tr != nil && tr.FramesDecoded > 0 {
			camera = tr.ID
			return true
		}
		return false
	})
	active := func() map[string]bool {
		m := map[string]bool{}
		for _, e := range evalJS[[]encoding](t, host, "encodings") {
			m[e.RID] = e.Active
		}
		return m
	}
	if got := active(); !got["q"] || !got["h"] || !got["f"] {
		t.Fatalf("encodings before any view: %v, want all sent", got)
	}

	if r := evalJS[callResult](t, viewer, "call", "view", camera, 320, 180); !r.OK {
		t.Fatalf("view: %+v", r)
	}
	start := time.Now()
	// f is paused too if the server has received it; Chromium starts it only
	// once its estimate allows, which on a busy machine may be never, and a
	// layer the server has not seen is left on.
	eventually(t, uiWait, "h paused for a thumbnail", func() bool {
		got := active()
		return got["q"] && !got["h"]
	})
	t.Logf("h paused %v after the view (f sent: %v)", time.Since(start).Round(time.Millisecond), active()["f"])
	// The encoder really stops: h's packet count holds for a second.
	var held struct {
		since   time.Time
		packets float64
	}
	eventually(t, uiWait, "no packets of h for a second", func() bool {
		now := time.Now()
		for _, s := range report(t, host).Sent {
			if s["rid"] != "h" {
				continue
			}
			n, _ := s["packetsSent"].(float64)
			if held.since.IsZero() || n != held.packets {
				held.since, held.packets = now, n
			}
			return now.Sub(held.since) >= time.Second
		}
		return false
	})
	// The viewer still gets the picture.
	frames := report(t, viewer).decoded("camera")
	waitFor(t, viewer, uiWait, "frames of q", func(r browserReport) bool { return r.decoded("camera") > frames+5 })

	if r := evalJS[callResult](t, viewer, "call", "view", camera, 1280, 720); !r.OK {
		t.Fatalf("view: %+v", r)
	}
	start = time.Now()
	eventually(t, uiWait, "every layer sent again for a full-size tile", func() bool {
		got := active()
		return got["q"] && got["h"] && got["f"]
	})
	t.Logf("h and f back %v after the view", time.Since(start).Round(time.Millisecond))
	for _, p := range []*page{host, viewer} {
		p.checkClean(t)
	}
}
