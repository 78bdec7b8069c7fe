package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"lectern/access"
	"lectern/hls/hlstest"
	"lectern/storage/storagetest"
)

// TestWatchPage drives /watch/{room} in a webinar room with HLS and
// questions on: a viewer who joined with the audience PIN sees "offline", and
// the page starts playing by itself when the host goes on air, with hls.js,
// currentTime advancing 3 s and a latency readout; when the host leaves it
// says so. A viewer's question
// reaches the host's Q&A queue only; once approved it appears on every
// viewer's page, then as answered. Without a join the page sends people to
// the join form.
func TestWatchPage(t *testing.T) {
	browser := startChromium(t)
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	t.Cleanup(a.srv.hls.Close)
	room := a.createRoom(map[string]any{"id": "weekly", "name": "Weekly update", "mode": "webinar",
		"broadcast": map[string]any{"hls": true}, "chat": map[string]any{"questions": true}})

	// No join: the page asks for the PIN, with the room filled in.
	stranger := openTab(t, browser, a.url+"/watch/weekly", "stranger", desktop)
	stranger.waitPath("/")
	if got := stranger.js(`document.querySelector('#room').value`); got != "weekly" {
		t.Errorf("join form room = %v, want weekly", got)
	}
	stranger.checkClean()

	// A viewer joins with the audience PIN and lands here: offline.
	viewer := openTab(t, browser, a.url+"/?room=weekly", "viewer", desktop)
	viewer.expectHTTPError("/hls/weekly/index.m3u8")
	viewer.fill("#pin", room.str("pin"))
	viewer.fill("#name", "Ada\r")
	viewer.waitPath("/watch/weekly")
	viewer.waitText("#player-state", "The stream is offline")
	viewer.waitText("#live-badge", "Offline")
	viewer.waitJS(`document.querySelector('.chat')?.dataset.state === 'ready'`, "the chat connected")
	viewer.waitText(".chat-composer button[type=submit]", "Ask")
	viewer.checkFits()
	viewer.screenshot("watch-offline")

	// A second viewer, on a phone, and the host in the same page with a
	// moderator's token.
	phoneViewer := openWatch(t, browser, a, "weekly", a.joinWithPIN("weekly", room.str("pin"), "Grace"), "viewer on a phone", phone)
	phoneViewer.waitText("#player-state", "The stream is offline")
	phoneViewer.checkFits()
	phoneViewer.screenshot("watch-offline")
	// The host opens the page from a link carrying a token (as the console
	// or an integrator hands it out).
	hostToken := a.joinWithToken("weekly", "host", "Hedy", "host")["token"].(string)
	host := openTab(t, browser, a.url+"/?room=weekly", "host", desktop)
	host.expectHTTPError("/hls/weekly/index.m3u8")
	host.do(chromedp.Navigate(a.url + "/watch/weekly#token=" + hostToken))
	host.waitText("#watch-about", "Hedy")
	if h := host.js(`location.hash`); h != "" {
		t.Errorf("the token stays in the address bar: %v", h)
	}
	host.waitJS(`document.querySelector('.chat')?.dataset.state === 'ready'`, "the host's chat connected")

	// The host goes on air; both viewers play without a reload.
	signal := dialRoom(t, a, "weekly", a.tokenFor("presenter", "weekly", access.Host))
	signal.next("welcome")
	pub := hlstest.Publish(t, wsSignal(signal), hlstest.Track{Source: "camera", Clip: clip}, hlstest.Track{Source: "microphone", Sound: sound})
	for _, tab := range []*uiTab{viewer, phoneViewer} {
		waitPlaying(t, tab, 3)
		tab.waitText("#live-badge", "Live")
		tab.waitJS(`document.querySelector('#latency').dataset.latency > 0`, "a latency readout")
		t.Logf("%s: %s; restarts for: %q", tab.name, tab.js(`document.querySelector('#latency').textContent`),
			tab.js(`document.querySelector('#player-state').dataset.lastError || ''`))
	}
	phoneViewer.checkFits()
	phoneViewer.screenshot("watch-playing")

	// The network stops delivering media while the broadcast stays live
	// (playlists still come): the player waits on requests that hang, and
	// only the page's stall check, which finds the playlist live, loads it
	// again (hls.js alone waits out its own timeouts, 10 s and more).
	hold := holdMedia(t, viewer)
	hold.set(true)
	held := time.Now()
	const stallJS = `(() => { const v = document.querySelector('#video'), s = document.querySelector('#player-state'); return {state: s.dataset.state, lastError: s.dataset.lastError || '', unstuck: s.dataset.unstuck || '', t: v.currentTime, paused: v.paused, ready: v.readyState, buffered: Array.from({length: v.buffered.length}, (_, i) => v.buffered.start(i).toFixed(2) + '-' + v.buffered.end(i).toFixed(2)).join(' ')}; })()`
	var stall []string // the page's readings, when they change
	last := ""
	eventually(t, 40*time.Second, "a new load of the standing player", func() bool {
		m := viewer.js(stallJS).(map[string]any)
		if r := fmt.Sprint(m); r != last {
			last = r
			stall = append(stall, fmt.Sprintf("\n  +%.1fs %s", time.Since(held).Seconds(), r))
		}
		return m["lastError"] == "stalled"
	}, func() string { return strings.Join(stall[max(0, len(stall)-60):], "") })
	reloaded := time.Since(held)
	hold.set(false)
	waitPlaying(t, viewer, 2)
	t.Logf("FIGURE media held from the watch page: loaded again %v after the hold began, playing again %v after", reloaded.Round(100*time.Millisecond), time.Since(held).Round(100*time.Millisecond))

	// A question from the viewer: pending for the asker and the host, not
	// shown to the other viewer.
	viewer.fill(".chat-composer textarea", "Will the slides be shared?")
	viewer.click(".chat-composer button[type=submit]")
	viewer.waitText(".chat-list li.mine", "Will the slides be shared?")
	viewer.waitText(".chat-list li.mine", "Waiting for approval")
	id := fmt.Sprint(viewer.js(`Number(document.querySelector('.chat-list li.mine').dataset.id)`))
	item := fmt.Sprintf(`li[data-id="%s"]`, id)
	host.click(".chat-tabs [role=tab]:nth-child(2)")
	host.waitText(".chat-qa "+item+"[data-state=pending]", "Will the slides be shared?")
	host.waitText(".chat-tabs .chat-count", "1")
	host.screenshot("watch-questions")
	if shown := phoneViewer.js(`!!document.querySelector('` + item + `')`); shown != false {
		t.Errorf("another viewer sees the pending question")
	}

	// Approved: every viewer sees it; then answered.
	host.click(".chat-qa " + item + " [data-action=approve]")
	for _, tab := range []*uiTab{viewer, phoneViewer} {
		tab.waitText(".chat-list "+item+"[data-state=approved]", "Will the slides be shared?")
	}
	phoneViewer.click(".chat-tabs [role=tab]:nth-child(2)")
	phoneViewer.waitText(".chat-qa "+item, "Will the slides be shared?")
	host.click(".chat-qa " + item + " [data-action=answer]")
	for _, tab := range []*uiTab{viewer, phoneViewer} {
		tab.waitText(item+"[data-state=answered]", "Answered")
	}
	if n := phoneViewer.js(`document.querySelectorAll('.chat-qa [data-action]').length`); n != 0.0 {
		t.Errorf("a viewer has %v moderation buttons in the questions", n)
	}
	viewer.screenshot("watch-playing")

	// The host leaves: the page says the broadcast is over and waits again.
	pub.Stop()
	eventually(t, 60*time.Second, "the viewer page off air", func() bool {
		s := viewer.js(`document.querySelector('#player-state').dataset.state`)
		return s == "ended" || s == "offline"
	}, func() string {
		return fmt.Sprint(viewer.js(`({state: document.querySelector('#player-state').dataset.state, t: document.querySelector('#video').currentTime, paused: document.querySelector('#video').paused})`))
	})
	viewer.waitText("#live-badge", "Offline")
	for _, tab := range []*uiTab{viewer, phoneViewer, host} {
		tab.checkClean()
	}
}

// waitPlaying waits until the page's video plays and its currentTime has
// advanced by seconds.
func waitPlaying(t *testing.T, tab *uiTab, seconds float64) {
	t.Helper()
	first := -1.0
	var last any
	eventually(t, 45*time.Second, tab.name+" playing", func() bool {
		last = tab.js(`(() => { const s = document.querySelector('#player-state'); return {t: document.querySelector('#video').currentTime, state: s.dataset.state, lastError: s.dataset.lastError || ''}; })()`)
		m := last.(map[string]any)
		cur, _ := m["t"].(float64)
		if m["state"] != "playing" || cur < first {
			first = -1 // not playing, or started over: count again
		}
		if first < 0 && cur > 0 && m["state"] == "playing" {
			first = cur
		}
		return first >= 0 && cur-first >= seconds
	}, func() string { return fmt.Sprintf("last %v", last) })
}

// openWatch opens /watch/{room} in a tab whose session holds join, as the
// join page leaves it.
func openWatch(t *testing.T, browser context.Context, a *testAPI, room string, join map[string]any, name string, vp viewport) *uiTab {
	t.Helper()
	tab := openTab(t, browser, a.url+"/?room="+room, name, vp)
	tab.expectHTTPError("/hls/" + room + "/index.m3u8")
	data, _ := json.Marshal(join)
	tab.js(fmt.Sprintf(`sessionStorage.setItem(%q, %s); true`, "lectern.join."+room, jsString(string(data))))
	tab.do(chromedp.Navigate(a.url + "/watch/" + room))
	return tab
}

// joinWithPIN joins room as name with pin and returns the join answer.
func (a *testAPI) joinWithPIN(room, pin, name string) map[string]any {
	a.t.Helper()
	return a.must(http.StatusOK, "POST", "/api/v1/rooms/"+room+"/join", "", map[string]any{"pin": pin, "name": name}).body
}

// joinWithToken mints a token with a preset for room and shapes it as a join
// answer.
func (a *testAPI) joinWithToken(room, identity, name, preset string) map[string]any {
	a.t.Helper()
	tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey,
		map[string]any{"identity": identity, "name": name, "rooms": map[string]any{room: map[string]any{"preset": preset}}}).body
	r := a.must(http.StatusOK, "GET", "/api/v1/rooms/"+room, a.adminKey, nil).body
	grant := tok["rooms"].(map[string]any)[room].(map[string]any)
	return map[string]any{"token": tok["token"], "expires_at": tok["expires_at"], "identity": identity, "name": name,
		"permissions": grant["permissions"], "tier": grant["tier"], "room": r}
}

// mediaHold pauses a tab's requests for media segments and parts (.m4s) while
// set, as a network that stops delivering does; unset, the paused requests
// and every later one go on.
type mediaHold struct {
	tab    *uiTab
	mu     sync.Mutex
	held   bool
	paused []fetch.RequestID
}

// holdMedia starts intercepting tab's media requests, none held yet.
func holdMedia(t *testing.T, tab *uiTab) *mediaHold {
	t.Helper()
	h := &mediaHold{tab: tab}
	// Listeners run on chromedp's reading goroutine, which must not wait
	// for a command's answer: requests go on from goroutines of their own.
	err := chromedp.Listen(tab.ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.held {
			h.paused = append(h.paused, e.RequestID)
			return
		}
		go h.resume(e.RequestID)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*.m4s*"}}}); err != nil {
		t.Fatal(err)
	}
	return h
}

// set holds media requests from now on, or lets them and the held ones go.
func (h *mediaHold) set(held bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = held
	if !held {
		for _, id := range h.paused {
			go h.resume(id)
		}
		h.paused = nil
	}
}

// resume lets a paused request go on; one the page gave up on, or of a
// closed tab, has nothing to go on.
func (h *mediaHold) resume(id fetch.RequestID) {
	chromedp.Call(h.tab.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
}
