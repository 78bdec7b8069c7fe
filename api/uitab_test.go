package api

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
)

// Viewports the pages are checked (and photographed) at.
var (
	desktop = viewport{"1280", 1280, 800}
	phone   = viewport{"390", 390, 844}
)

type viewport struct {
	name          string
	width, height int64
}

// uiTab is one tab on a product page, in a browser context of its own. It
// records console errors, uncaught exceptions and browser log errors; only
// failed requests the test expects (an answered 4xx) are let through.
// uiWait bounds each wait for a page: long enough for a page that starts a
// browser, a camera and a peer connection on a loaded two-core CI machine; a
// page that works answers far sooner, so this costs nothing when it passes.
const uiWait = 30 * time.Second

type uiTab struct {
	t    *testing.T
	ctx  context.Context
	name string
	vp   viewport

	mu       sync.Mutex
	problems []string
	expected []string // URL parts whose failed loads the test provokes
}

// openTab opens url at the viewport's size.
func openTab(t *testing.T, browserCtx context.Context, url, name string, vp viewport) *uiTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tab := &uiTab{t: t, ctx: ctx, name: name + " at " + vp.name, vp: vp}
	if err := chromedp.Listen(ctx, tab.record); err != nil {
		t.Fatal(err)
	}
	tab.do(chromedp.EmulateViewport(vp.width, vp.height, tab.mobileOpts()...), chromedp.Navigate(url))
	return tab
}

// record keeps what the page reports as wrong (pageProblem), but for the
// browser's log of the errors the test expects. It runs on chromedp's
// reading goroutine, so it only appends.
func (tab *uiTab) record(ev any) {
	msg, entry := pageProblem(ev)
	if msg == "" {
		return
	}
	tab.mu.Lock()
	defer tab.mu.Unlock()
	if entry != nil && tab.expectedEntry(entry) {
		return
	}
	tab.problems = append(tab.problems, msg)
}

// expectedEntry reports whether a browser log entry is one the test
// provoked (expectHTTPError). Called with mu held.
func (tab *uiTab) expectedEntry(e *cdplog.Entry) bool {
	// 503: a broadcast starting (Retry-After), which the watch page waits out.
	if e.Source == cdplog.EntrySourceNetwork && (strings.Contains(e.Text, "status of 4") || strings.Contains(e.Text, "status of 503")) {
		for _, part := range tab.expected {
			if strings.Contains(e.URL, part) {
				return true
			}
		}
	}
	// A refused websocket handshake is logged with the page's script as its
	// URL and the socket's URL in the text.
	if strings.Contains(e.Text, "WebSocket") && strings.Contains(e.Text, "Unexpected response code: 4") {
		for _, part := range tab.expected {
			if strings.Contains(e.Text, part) {
				return true
			}
		}
	}
	return false
}

// expectHTTPError lets through the browser's log of a 4xx (or 503) answer to a URL
// containing part: the test provokes it, and the page explains it.
func (tab *uiTab) expectHTTPError(part string) {
	tab.mu.Lock()
	tab.expected = append(tab.expected, part)
	tab.mu.Unlock()
}

// checkClean fails the test for every problem the page reported.
func (tab *uiTab) checkClean() {
	tab.t.Helper()
	tab.mu.Lock()
	defer tab.mu.Unlock()
	for _, p := range tab.problems {
		tab.t.Errorf("%s: %s", tab.name, p)
	}
}

// do runs actions, failing the test on error.
func (tab *uiTab) do(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, uiWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("%s: %v", tab.name, err)
	}
}

// js evaluates a JavaScript expression and returns its value.
func (tab *uiTab) js(expr string) any {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, uiWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.t.Fatalf("%s: %s: %v", tab.name, expr, err)
	}
	return v
}

// click clicks the visible element sel, as a user would.
func (tab *uiTab) click(sel string) {
	tab.t.Helper()
	tab.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// fill replaces the text of the input sel by typing value.
func (tab *uiTab) fill(sel, value string) {
	tab.t.Helper()
	tab.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	tab.js(fmt.Sprintf(`document.querySelector(%q).value = ''`, sel))
	tab.do(chromedp.SendKeys(chromedp.CSS(sel), value))
}

// waitJS waits until expr is truthy.
func (tab *uiTab) waitJS(expr, what string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, uiWait)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[any](expr, chromedp.WithPollingInterval(25*time.Millisecond))); err != nil {
		tab.t.Fatalf("%s: no %s: %v", tab.name, what, err)
	}
}

// waitText waits until the text of sel contains want.
func (tab *uiTab) waitText(sel, want string) {
	tab.t.Helper()
	expr := fmt.Sprintf(`(document.querySelector(%q)?.textContent || '').includes(%q)`, sel, want)
	ctx, cancel := context.WithTimeout(tab.ctx, uiWait)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(25*time.Millisecond))); err != nil {
		got, _ := chromedp.Run(tab.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q)?.textContent ?? '(no element)'`, sel)))
		page, _ := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText`))
		tab.t.Fatalf("%s: %s does not say %q: it says %q; the page shows:\n%s", tab.name, sel, want, strings.TrimSpace(got), page)
	}
}

// waitPath waits until the page's path is path (after a navigation).
func (tab *uiTab) waitPath(path string) {
	tab.t.Helper()
	var last string
	eventually(tab.t, uiWait, tab.name+" at "+path, func() bool {
		ctx, cancel := context.WithTimeout(tab.ctx, 2*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === 'complete' ? location.pathname : ''`))
		last = v
		return err == nil && v == path
	}, func() string { return "last at " + last })
}

// checkFits fails the test when the page is wider than the viewport (a
// control pushed off screen), or an element sticks out of it.
func (tab *uiTab) checkFits() {
	tab.t.Helper()
	out := tab.js(`[...document.querySelectorAll('body *')].filter((el) => {
		if (el.closest('.skip-link, .table-wrap, .visually-hidden, table.cards thead, dialog:not([open])')) return false;
		const r = el.getBoundingClientRect();
		return r.width > 0 && (r.right > innerWidth + 1 || r.left < -1);
	}).map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className).slice(0, 5).join(', ')`)
	if s, _ := out.(string); s != "" {
		tab.t.Errorf("%s: elements outside the %d px viewport: %s", tab.name, tab.vp.width, s)
	}
}

// screenshot writes the viewport to docs/screenshots/<name>-<width>.png when
// LECTERN_SCREENSHOTS=1, so that normal runs leave the files alone.
func (tab *uiTab) screenshot(name string) {
	tab.t.Helper()
	tab.savePNG(name, chromedp.CaptureScreenshot())
}

// fullScreenshot is screenshot of the whole page, below the fold too.
func (tab *uiTab) fullScreenshot(name string) {
	tab.t.Helper()
	tab.savePNG(name, chromedp.FullScreenshot(100))
}

func (tab *uiTab) savePNG(name string, shot chromedp.Action[[]byte]) {
	tab.t.Helper()
	if os.Getenv("LECTERN_SCREENSHOTS") != "1" {
		return
	}
	// Toasts are transient; a picture shows the page under them. Let the
	// fake camera's first frames settle.
	tab.js(`document.getElementById('toasts')?.replaceChildren(); true`)
	tab.do(chromedp.Sleep(300 * time.Millisecond))
	ctx, cancel := context.WithTimeout(tab.ctx, uiWait)
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		tab.t.Fatalf("%s: screenshot %s: %v", tab.name, name, err)
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tab.t.Fatal(err)
	}
	file := filepath.Join(dir, name+"-"+tab.vp.name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tab.t.Fatal(err)
	}
	// After a full-page capture the viewport must be the test's again.
	tab.do(chromedp.EmulateViewport(tab.vp.width, tab.vp.height, tab.mobileOpts()...))
}

func (tab *uiTab) mobileOpts() []chromedp.EmulateViewportOption {
	if tab.vp.width < 600 {
		return []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulatePortrait}
	}
	return nil
}
