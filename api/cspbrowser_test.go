package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"testing"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"lectern/storage/storagetest"
)

// recordViolations runs before a page's own scripts and keeps every Content
// Security Policy violation the page causes.
const recordViolations = `window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(
  e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));`

// TestPagesUnderCSP opens every page in Chromium under the policy the server
// sends and checks that each page starts without a violation or error:
// the join page, the console, and the room, studio and watch pages of a
// member who has joined.
func TestPagesUnderCSP(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	t.Cleanup(a.srv.hls.Close)
	a.createRoom(map[string]any{"id": "salon", "name": "Salon"})
	host := a.joinWithToken("salon", "ada", "Ada", "host")
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/salon/messages", host["token"].(string), map[string]any{"text": "Welcome"})

	for _, tc := range []struct{ path, ready string }{
		{"/", `!!document.querySelector('#join-form')`},
		{"/?room=salon", `document.querySelector('#room').value === 'salon'`},
		{"/admin", `!document.querySelector('#signin-view').hidden`},
		{"/room/salon", `document.querySelector('#room-title').textContent === 'Salon'`},
		{"/studio/salon", `document.querySelector('#room-title').textContent === 'Salon'`},
		{"/watch/salon", `document.querySelector('.chat-list')?.textContent.includes('Welcome')`},
	} {
		var expect []string
		if tc.path == "/watch/salon" {
			// Nothing is on air: the page asks, gets 404 and says so.
			expect = append(expect, "/hls/salon/index.m3u8")
		}
		tab := openCSPTab(t, browser, a, tc.path, "salon", host, expect...)
		tab.waitJS(tc.ready, tc.path+" ready")
		if v := tab.js(`window.cspViolations`); v != nil && len(v.([]any)) > 0 {
			t.Errorf("%s: CSP violations: %v", tc.path, v)
		}
		tab.checkClean()
	}
}

// openCSPTab opens path with the violation recorder in place, the join of
// room stored first as the join page would. expect are the URL parts whose
// 4xx answers the page provokes (expectHTTPError), allowed before it loads:
// allowed after, one could come first.
func openCSPTab(t *testing.T, browser context.Context, a *testAPI, path, room string, join map[string]any, expect ...string) *uiTab {
	t.Helper()
	tab := openTab(t, browser, a.url+"/img/lectern.svg", path, desktop)
	tab.expectHTTPError("/favicon.ico") // asked for by the picture opened first
	for _, part := range expect {
		tab.expectHTTPError(part)
	}
	data, _ := json.Marshal(join)
	tab.js(fmt.Sprintf(`sessionStorage.setItem(%q, %s); true`, "lectern.join."+room, jsString(string(data))))
	tab.do(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		return chromedp.Void{}, t.Call(ctx, cdppage.CommandAddScriptToEvaluateOnNewDocument,
			&cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: recordViolations}, nil)
	})
	tab.do(chromedp.Navigate(a.url + path))
	return tab
}

// TestChatDirectionIsolated checks in Chromium that users' text keeps its own
// direction without reordering the page: a right-to-left message is laid out
// right to left (its ink sits at the right of its line, in a screenshot), a
// left-to-right one left to right, and names are direction isolates.
func TestChatDirectionIsolated(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	t.Cleanup(a.srv.hls.Close)
	room := a.createRoom(map[string]any{"id": "majlis", "name": "مجلس Lectern"})
	host := a.joinWithToken("majlis", "ada", "Ada", "host")
	guest := a.joinWithPIN("majlis", room.str("pin"), "دانا 2")
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/majlis/messages", guest["token"].(string), map[string]any{"text": "مرحبا!"})
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/majlis/messages", host["token"].(string), map[string]any{"text": "Hello!"})
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/majlis/messages", host["token"].(string),
		map[string]any{"text": "Welcome", "to": guest["identity"]})

	tab := openWatch(t, browser, a, "majlis", host, "host Ada", desktop)
	tab.waitText(".chat-list", "Welcome")
	arabic := `[...document.querySelectorAll('.chat-text')].find((p) => p.textContent === 'مرحبا!')`
	latin := `[...document.querySelectorAll('.chat-text')].find((p) => p.textContent === 'Hello!')`
	if d := tab.js(`getComputedStyle(` + arabic + `).direction`); d != "rtl" {
		t.Errorf("Arabic message laid out %v, want rtl", d)
	}
	if d := tab.js(`getComputedStyle(` + latin + `).direction`); d != "ltr" {
		t.Errorf("Latin message laid out %v, want ltr", d)
	}
	for _, sel := range []string{".chat-from", ".chat-text", ".badge-private bdi", "#room-name"} {
		if v := tab.js(fmt.Sprintf(`(() => { const el = document.querySelector(%q); return el ? getComputedStyle(el).unicodeBidi : 'missing'; })()`, sel)); v != "isolate" {
			t.Errorf("%s: unicode-bidi %v, want isolate", sel, v)
		}
	}
	tab.screenshot("chat-rtl")

	// In a picture of the Arabic message, the ink is at the right end of its line.
	tab.js(arabic + `.id = 'rtl-message'; true`)
	ctx, cancel := context.WithTimeout(tab.ctx, uiWait)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.Screenshot("#rtl-message"))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	left, right, width := inkColumns(t, shot)
	t.Logf("Arabic message: ink from x=%d to x=%d of %d", left, right, width)
	if left < width/2 || right < width*9/10 {
		t.Errorf("Arabic message's ink spans x=%d..%d of %d: not right-aligned", left, right, width)
	}
	tab.checkClean()
}

// inkColumns returns the first and last column of a PNG holding a pixel much
// darker than the picture's top-left corner (the background), and its width.
func inkColumns(t *testing.T, data []byte) (left, right, width int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	luma := func(x, y int) int {
		r, g, bl, _ := img.At(x, y).RGBA()
		return int(r>>8)*299/1000 + int(g>>8)*587/1000 + int(bl>>8)*114/1000
	}
	bg := luma(b.Min.X, b.Min.Y)
	left, right = -1, -1
	for x := b.Min.X; x < b.Max.X; x++ {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if d := luma(x, y) - bg; d > 80 || d < -80 {
				if left < 0 {
					left = x - b.Min.X
				}
				right = x - b.Min.X
				break
			}
		}
	}
	if left < 0 {
		t.Fatalf("no ink in a %v picture", b.Size())
	}
	return left, right, b.Dx()
}
