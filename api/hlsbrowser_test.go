package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"lectern/access"
	"lectern/hls/hlstest"
)

// hlsPage plays a room's HLS with hls.js in low-latency mode.
const hlsPage = `<!doctype html><meta charset="utf-8"><title>hls</title>
<video id="v" muted playsinline></video>
<script src="/vendor/hls/hls.min.js"></script>
<script>
window.errors = [];
window.play = (url) => {
  const v = document.getElementById('v');
  const hls = new Hls({lowLatencyMode: true});
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) errors.push(d.type + ': ' + d.details); });
  hls.loadSource(url);
  hls.attachMedia(v);
  v.play().catch(e => errors.push('play: ' + e));
  window.hls = hls;
  return 'ok';
};
</script>`

// TestBrowserPlaysHLS: headless Chromium plays a webinar room's LL-HLS with
// the vendored hls.js (webui/static/vendor/hls, served by the API) in
// low-latency mode, and the video's currentTime advances 3 s.
func TestBrowserPlaysHLS(t *testing.T) {
	browser := startChromium(t)
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	a := newBroadcastAPI(t, "hlsjs")
	host := dialRoom(t, a, "hlsjs", a.tokenFor("host", "hlsjs", access.Host))
	host.next("welcome")
	hlstest.Publish(t, wsSignal(host), hlstest.Track{Source: "camera", Clip: clip}, hlstest.Track{Source: "microphone", Sound: sound})
	a.waitLive("hlsjs")

	ctx := playHLS(t, browser, a, "hlsjs")
	latency, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`hls.latency`))
	t.Logf("hls.js latency %.2f s (live edge to playhead)", latency)
	// The broadcast counts the browser as its one viewer.
	st := a.must(http.StatusOK, "GET", "/api/v1/rooms/hlsjs/broadcast", a.adminKey, nil)
	if v, _ := st.body["status"].(map[string]any)["viewers"].(float64); v != 1 {
		t.Errorf("viewers %v, want 1 (Chromium): %s", st.body["status"].(map[string]any)["viewers"], st.raw)
	}
}

// playHLS plays room's LL-HLS with hls.js in a new Chromium tab and waits
// until its currentTime advanced 3 s without a fatal hls.js error; it
// returns the tab.
func playHLS(t *testing.T, browser context.Context, a *testAPI, room string) context.Context {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/test-hls/page.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(hlsPage))
	})
	mux.Handle("/", a.srv.Handler())
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)

	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	url := "/hls/" + room + "/index.m3u8?token=" + a.tokenFor("viewer", room, access.Viewer)
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/test-hls/page.html")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`play(`+jsString(url)+`)`)); err != nil {
		t.Fatal(err)
	}
	type playState struct {
		Time   float64
		Errors []string
	}
	state := func() (float64, []string) {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[playState](`({time: document.getElementById('v').currentTime, errors})`))
		if err != nil {
			t.Fatal(err)
		}
		return s.Time, s.Errors
	}
	first := -1.0
	start := time.Now()
	eventually(t, 30*time.Second, "currentTime advancing 3 s", func() bool {
		cur, errs := state()
		if len(errs) > 0 {
			t.Fatalf("hls.js: %v", errs)
		}
		if first < 0 && cur > 0 {
			first = cur
			t.Logf("playing after %v", time.Since(start))
		}
		return first >= 0 && cur-first >= 3
	}, func() string {
		cur, errs := state()
		return "currentTime " + jsString(cur) + ", errors " + jsString(errs)
	})
	return ctx
}

// jsString writes v as a JavaScript literal.
func jsString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
