package api

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"lectern/access"
	"lectern/hls/hlstest"
)

// hlsjsVersion is the hls.js the test plays with.
const hlsjsVersion = "1.6.15"

// hlsPage plays a room's HLS with hls.js in low-latency mode.
const hlsPage = `<!doctype html><meta charset="utf-8"><title>hls</title>
<video id="v" muted playsinline></video>
<script src="/test-hls/hls.min.js"></script>
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

// hlsjsPath finds hls.min.js: LECTERN_TEST_HLSJS, or the user cache, where it
// is fetched with npm the first time (npm pack: the registry's tarball, no
// install scripts).
func hlsjsPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LECTERN_TEST_HLSJS"); p != "" {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "lectern", "hls.js-"+hlsjsVersion)
	path := filepath.Join(dir, "hls.min.js")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := fetchHLSJS(dir, path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs hls.js %s (npm pack): %v", hlsjsVersion, err)
		}
		t.Skipf("no hls.js %s: %v", hlsjsVersion, err)
	}
	return path
}

// fetchHLSJS packs hls.js from the npm registry into dir and keeps its
// dist/hls.min.js as path.
func fetchHLSJS(dir, path string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("npm", "pack", "--silent", "--pack-destination", dir, "hls.js@"+hlsjsVersion).Output()
	if err != nil {
		return fmt.Errorf("npm pack: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, strings.TrimSpace(string(out))))
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			return fmt.Errorf("no dist/hls.min.js in the package: %w", err)
		}
		if h.Name == "package/dist/hls.min.js" {
			data, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			return os.WriteFile(path, data, 0o644)
		}
	}
}

// TestBrowserPlaysHLS: headless Chromium plays a webinar room's LL-HLS with
// hls.js in low-latency mode, and the video's currentTime advances 3 s.
func TestBrowserPlaysHLS(t *testing.T) {
	hlsjs := hlsjsPath(t)
	browser := startChromium(t)
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	a := newBroadcastAPI(t, "hlsjs")
	host := dialRoom(t, a, "hlsjs", a.tokenFor("host", "hlsjs", access.Host))
	host.next("welcome")
	hlstest.Publish(t, wsSignal(host), hlstest.Track{Source: "camera", Clip: clip}, hlstest.Track{Source: "microphone", Sound: sound})
	a.waitLive("hlsjs")

	mux := http.NewServeMux()
	mux.HandleFunc("/test-hls/page.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(hlsPage))
	})
	mux.HandleFunc("/test-hls/hls.min.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, hlsjs) })
	mux.Handle("/", a.srv.Handler())
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)

	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancel()
	url := "/hls/hlsjs/index.m3u8?token=" + a.tokenFor("viewer", "hlsjs", access.Viewer)
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
	latency, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`hls.latency`))
	t.Logf("hls.js latency %.2f s (live edge to playhead)", latency)
}

// jsString writes v as a JavaScript literal.
func jsString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
