package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"lectern/access"
	"lectern/storage/storagetest"
)

// chromiumPath is Debian's Chromium, which CI installs.
const chromiumPath = "/usr/bin/chromium"

// chromiumFlags start a headless Chromium whose camera and microphone are fake
// and granted without asking. With both media flags, getDisplayMedia needs no
// flag of its own: it returns a fake monitor ("screen:-3:0", 800x450 at 30 fps).
var chromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.ExecPath(chromiumPath),
	chromedp.Flag("headless", "new"),
	chromedp.Flag("no-sandbox", true),
	chromedp.Flag("disable-gpu", true),
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("no-first-run", true),
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("use-fake-device-for-media-stream", true),
	chromedp.Flag("use-fake-ui-for-media-stream", true),
	// Several tabs play media at once: none may be throttled as a background tab.
	chromedp.Flag("disable-background-timer-throttling", true),
	chromedp.Flag("disable-renderer-backgrounding", true),
	chromedp.Flag("disable-backgrounding-occluded-windows", true),
}

// TestBrowserPublishAndWatch has one Chromium page publish camera, microphone
// and screen through /js/lectern.js and other pages, each in a browser context
// of its own, receive and decode them: in a conference room (VP8) and in a
// broadcast room (H.264 only).
func TestBrowserPublishAndWatch(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	site := browserSite(t, a)
	for _, tc := range []struct {
		room  map[string]any
		codec string
	}{
		{map[string]any{"id": "conference", "name": "Conference"}, "vp8"},
		{map[string]any{"id": "broadcast", "name": "Broadcast", "mode": "webinar", "broadcast": map[string]any{"hls": true}}, "h264"},
	} {
		room := tc.room["id"].(string)
		a.createRoom(tc.room)
		tokens := map[string]string{
			"host": a.tokenFor("host", room, access.Host), "viewer": a.tokenFor("viewer", room, access.Member),
			"late": a.tokenFor("late", room, access.Subscribe), "stranger": a.tokenFor("stranger", "elsewhere", access.Member),
		}
		t.Run(room, func(t *testing.T) { publishAndWatch(t, browser, site, room, tokens, tc.codec) })
	}
}

// publishAndWatch is one room of TestBrowserPublishAndWatch.
func publishAndWatch(t *testing.T, browser context.Context, site, room string, tokens map[string]string, codec string) {
	viewer := openPage(t, browser, site, "viewer")
	host := openPage(t, browser, site, "host")
	start := time.Now()
	viewerID := evalJS[string](t, viewer, "watch", room, tokens["viewer"])
	hostID := evalJS[string](t, host, "publish", room, tokens["host"])
	published := time.Now()
	t.Logf("viewer %s joined, host %s publishing camera, microphone and screen after %v", viewerID, hostID, published.Sub(start))
	defer func() {
		if t.Failed() {
			t.Logf("host's report: %s", host.reportText())
		}
	}()

	// The viewer decodes the host's camera and screen, and gets the microphone.
	var first browserReport
	waitFor(t, viewer, 20*time.Second, "camera and screen decoded", func(r browserReport) bool {
		first = r
		return r.decoded("camera") > 0 && r.decoded("screen") > 0 && r.track("microphone") != nil
	})
	t.Logf("viewer decoded camera and screen %v after the host's publish was answered", time.Since(published))
	if len(first.Received) != 3 {
		t.Errorf("viewer received %d tracks, want camera, microphone and screen: %+v", len(first.Received), first.Received)
	}
	for _, tr := range first.Received {
		if tr.Participant != hostID {
			t.Errorf("received %s track from %s, want the host %s", tr.Source, tr.Participant, hostID)
		}
		if tr.Kind == "video" && tr.Codec != codec {
			t.Errorf("received %s track in %s, want %s", tr.Source, tr.Codec, codec)
		}
	}
	waitFor(t, viewer, 10*time.Second, "more frames", func(r browserReport) bool {
		return r.decoded("camera") >= first.decoded("camera")+30 && r.decoded("screen") > first.decoded("screen")
	})

	// A latecomer gets the tracks published before it joined.
	late := openPage(t, browser, site, "latecomer")
	lateJoin := time.Now()
	evalJS[string](t, late, "watch", room, tokens["late"])
	waitFor(t, late, 10*time.Second, "camera and screen decoded", func(r browserReport) bool {
		return r.decoded("camera") > 0 && r.decoded("screen") > 0
	})
	t.Logf("latecomer decoded camera and screen %v after joining", time.Since(lateJoin))

	// The host hears of its own tracks with the sources it named.
	waitFor(t, host, 5*time.Second, "own tracks announced", func(r browserReport) bool {
		sources := map[string]bool{}
		for _, tr := range r.Published {
			sources[tr.Source] = true
		}
		return len(r.Published) == 3 && sources["camera"] && sources["microphone"] && sources["screen"]
	})

	// The host stops sharing its screen: the viewer's screen track ends, the
	// camera goes on.
	evalJS[chromedp.Void](t, host, "stopScreen")
	var before browserReport
	waitFor(t, viewer, 10*time.Second, "screen track ended", func(r browserReport) bool {
		before = r
		return r.track("screen") == nil
	})
	waitFor(t, viewer, 10*time.Second, "camera frames after the screen ended", func(r browserReport) bool {
		return r.decoded("camera") > before.decoded("camera")+10
	})

	// Refusals reject with the server's code: a request without the
	// permission, and a join with a token for another room.
	camera := first.track("camera").ID
	if r := evalJS[callResult](t, viewer, "call", "mute", camera, true); r.Code != "permission_denied" || r.Reason == "" {
		t.Errorf("viewer muting the host's camera: %+v, want permission_denied", r)
	}
	for _, p := range []*page{host, viewer, late} {
		p.checkClean(t)
	}
	// The browser logs the refused handshake, so this page is not checked.
	stranger := openPage(t, browser, site, "stranger")
	if r := evalJS[callResult](t, stranger, "tryConnect", room, tokens["stranger"]); r.Code != "token_wrong_room" {
		t.Errorf("joining with another room's token: %+v, want token_wrong_room", r)
	}
}

// TestBrowserSimulcastLayer has Chromium publish its camera in three simulcast
// layers and a viewer switch between them with layer requests.
func TestBrowserSimulcastLayer(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "sim", "name": "Sim"})
	site := browserSite(t, a)

	viewer := openPage(t, browser, site, "viewer")
	host := openPage(t, browser, site, "host")
	evalJS[string](t, viewer, "watch", "sim", a.tokenFor("viewer", "sim", access.Member))
	evalJS[string](t, host, "publishSimulcast", "sim", a.tokenFor("host", "sim", access.Host))
	defer func() {
		if t.Failed() {
			t.Logf("host's report: %s", host.reportText())
		}
	}()
	var camera string
	start := time.Now()
	waitFor(t, viewer, 20*time.Second, "camera decoded", func(r browserReport) bool {
		if tr := r.track("camera"); tr != nil && tr.FramesDecoded > 0 {
			camera = tr.ID
			t.Logf("camera decoded after %v, %d pixels wide", time.Since(start), tr.FrameWidth)
			return true
		}
		return false
	})
	// q is a quarter of the capture's width, h half (less if Chromium scales
	// down for CPU). The top layer, f, is left out: Chromium sends it only when
	// its bandwidth estimate and CPU allow, which a busy machine may not.
	width := 0
	for _, step := range []struct {
		layer string
		ok    func(w int) bool
	}{
		{"q", func(w int) bool { return w > 0 && w <= 1280/4 }},
		{"h", func(w int) bool { return w >= width*3/2 }},
		{"q", func(w int) bool { return w > 0 && w <= width*2/3 }},
	} {
		// A layer can be chosen once its first packet arrived: Chromium starts
		// the upper ones as its bandwidth estimate grows.
		start := time.Now()
		eventually(t, 10*time.Second, "layer "+step.layer+" accepted", func() bool {
			r := evalJS[callResult](t, viewer, "call", "layer", camera, step.layer)
			if !r.OK && r.Code != "invalid_layer" {
				t.Fatalf("layer %s: %+v", step.layer, r)
			}
			return r.OK
		})
		frames := -1
		waitFor(t, viewer, 10*time.Second, "frames of layer "+step.layer, func(r browserReport) bool {
			tr := r.track("camera")
			if !step.ok(tr.FrameWidth) {
				return false
			}
			if frames < 0 {
				frames = tr.FramesDecoded
			}
			return tr.FramesDecoded > frames+5
		})
		width = report(t, viewer).track("camera").FrameWidth
		t.Logf("layer %s (%d pixels wide) decoded %v after the request", step.layer, width, time.Since(start))
	}
	for _, p := range []*page{host, viewer} {
		p.checkClean(t)
	}
}

// TestBrowserClientServed checks that the browser client is served as a
// JavaScript module (browsers refuse modules of other types), with or without
// Chromium here.
func TestBrowserClientServed(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	r := a.must(http.StatusOK, "GET", "/js/lectern.js", "", nil)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type %q, want text/javascript", ct)
	}
	if !strings.Contains(string(r.raw), "export function connect(") {
		t.Errorf("/js/lectern.js does not export connect")
	}
	a.must(http.StatusNotFound, "GET", "/js/missing.js", "", nil)
}

// callResult is what the page's call() and tryConnect() resolve with.
type callResult struct {
	OK           bool
	Code, Reason string
}

// browserReport is what the page's report() returns.
type browserReport struct {
	Received []receivedTrack
	// Sent is the publisher connection's outbound-rtp stats, for failure messages.
	Sent      []map[string]any
	Published []struct{ ID, Source, Kind string }
	Problems  []string
}

// receivedTrack is a track the page receives, with its inbound-rtp stats.
type receivedTrack struct {
	ID, Participant, Source, Kind, Codec       string
	FramesDecoded, PacketsReceived, FrameWidth int
}

// track returns the received track of a source, or nil.
func (r browserReport) track(source string) *receivedTrack {
	for i := range r.Received {
		if r.Received[i].Source == source {
			return &r.Received[i]
		}
	}
	return nil
}

// decoded returns the frames decoded of the received track of a source.
func (r browserReport) decoded(source string) int {
	if tr := r.track(source); tr != nil {
		return tr.FramesDecoded
	}
	return 0
}

// startChromium starts a headless Chromium for the test and returns its first
// context. Without Chromium the test is skipped, except in CI.
func startChromium(t *testing.T, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs Chromium at %s: %v", chromiumPath, err)
		}
		t.Skipf("no Chromium at %s", chromiumPath)
	}
	opts := append(chromiumFlags[:len(chromiumFlags):len(chromiumFlags)], chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, flags...)...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// browserSite serves the API and, under /test/, the test pages: one origin, as
// the product's pages will be.
func browserSite(t *testing.T, a *testAPI) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/test/", http.StripPrefix("/test/", http.FileServerFS(os.DirFS("testdata/browser"))))
	mux.Handle("/", a.srv.Handler())
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	return site.URL
}

// page is one tab with the test page loaded, recording its console errors and
// uncaught exceptions.
type page struct {
	ctx  context.Context
	name string

	mu       sync.Mutex
	problems []string
}

// openPage opens the test page in a new tab, in a browser context of its own
// (another user's browser: no shared storage or permissions).
func openPage(t *testing.T, browser context.Context, site, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &page{ctx: ctx, name: name}
	if err := chromedp.Listen(ctx, p.record); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(site+"/test/page.html"),
		chromedp.Poll[chromedp.Void]("window.ready === true", chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("page %s: load the test page: %v", name, err)
	}
	return p
}

// record keeps console errors and uncaught exceptions. It runs on chromedp's
// reading goroutine, so it only appends.
func (p *page) record(ev any) {
	if msg, _ := pageProblem(ev); msg != "" {
		p.mu.Lock()
		p.problems = append(p.problems, msg)
		p.mu.Unlock()
	}
}

// pageProblem describes what a browser event says went wrong in the page:
// console errors and failed assertions, uncaught exceptions, and the
// browser's own error log (entry is set for those, for callers that let
// expected ones through). Other events give "".
func pageProblem(ev any) (msg string, entry *cdplog.Entry) {
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return "", nil
		}
		var parts []string
		for _, a := range e.Args {
			if len(a.Value) > 0 {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		return "console." + string(e.Type) + ": " + strings.Join(parts, " "), nil
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg = "uncaught: " + d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		return msg, nil
	case *cdplog.EventEntryAdded:
		if e.Entry.Level != cdplog.EntryLevelError {
			return "", nil
		}
		return "browser log: " + e.Entry.Text + " " + e.Entry.URL, e.Entry
	}
	return "", nil
}

// checkClean fails the test if the page logged an error, threw, or its
// session reported a problem.
func (p *page) checkClean(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	problems := append([]string(nil), p.problems...)
	p.mu.Unlock()
	problems = append(problems, report(t, p).Problems...)
	for _, m := range problems {
		t.Errorf("page %s: %s", p.name, m)
	}
}

// evalJS calls a window function of the page with JSON arguments, as a user
// gesture (the real pages call getDisplayMedia from a click), and waits for its
// promise.
func evalJS[T any](t *testing.T, p *page, fn string, args ...any) T {
	t.Helper()
	data, err := json.Marshal(append([]any{}, args...))
	if err != nil {
		t.Fatal(err)
	}
	expr := fmt.Sprintf("%s(...%s)", fn, data)
	gesture := func(ep *runtime.EvaluateParams) { yes := true; ep.UserGesture = &yes }
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise, gesture))
	if err != nil {
		t.Fatalf("page %s: %s: %v", p.name, fn, err)
	}
	return v
}

// report runs the page's report().
func report(t *testing.T, p *page) browserReport {
	t.Helper()
	return evalJS[browserReport](t, p, "report")
}

// reportText is the page's report for a failure message; unlike report it
// never stops the test.
func (p *page) reportText() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.Evaluate[browserReport]("report()", chromedp.EvalAwaitPromise))
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%+v", r)
}

// waitFor polls the page's report until ok accepts it or the deadline passes.
func waitFor(t *testing.T, p *page, within time.Duration, what string, ok func(browserReport) bool) {
	t.Helper()
	var last browserReport
	eventually(t, within, "page "+p.name+": "+what, func() bool {
		last = report(t, p)
		return ok(last)
	}, func() string { return fmt.Sprintf("last report: %+v", last) })
}

// eventually calls cond every 50 ms until it holds, and fails the test if it
// does not within the time; explain, if given, adds to the failure message.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool, explain ...func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("no %s within %v", what, within)
			for _, e := range explain {
				msg += "; " + e()
			}
			t.Fatal(msg)
		}
		<-tick.C
	}
}
