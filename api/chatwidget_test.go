package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// recordSockets keeps every WebSocket a page opens in window.testSockets, so
// a test can cut the chat's connection as a network would.
const recordSockets = `(() => {
  const Base = window.WebSocket;
  window.testSockets = [];
  window.WebSocket = class extends Base {
    constructor(...args) { super(...args); window.testSockets.push(this); }
  };
})();`

// TestChatWidget drives the chat widget (js/chat.js, mounted by /watch) in a
// conference room between a host and a member: history, live messages, text
// that looks like HTML shown as text, a private reply, deleting, slow mode
// and muting explained next to the composer, and resuming after a lost
// connection with nothing missed or doubled.
func TestChatWidget(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	t.Cleanup(a.srv.hls.Close)
	room := a.createRoom(map[string]any{"id": "standup", "name": "Stand-up"})
	adaJoin := a.joinWithToken("standup", "ada", "Ada", "host")
	bobJoin := a.joinWithPIN("standup", room.str("pin"), "Bob")
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/standup/messages", adaJoin["token"].(string), map[string]any{"text": "Welcome, everyone"})

	ada := openWatch(t, browser, a, "standup", adaJoin, "host Ada", desktop)
	bob := openTab(t, browser, a.url+"/?room=standup", "member Bob", phone)
	bob.expectHTTPError("/hls/standup/index.m3u8")
	bob.do(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		return chromedp.Void{}, t.Call(ctx, cdppage.CommandAddScriptToEvaluateOnNewDocument,
			&cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: recordSockets}, nil)
	})
	bob.js(fmt.Sprintf(`sessionStorage.setItem('lectern.join.standup', %s); true`, jsString(mustJSON(t, bobJoin))))
	bob.do(chromedp.Navigate(a.url + "/watch/standup"))

	// History, then a live message; markup stays text.
	for _, tab := range []*uiTab{ada, bob} {
		tab.waitText(".chat-list", "Welcome, everyone")
	}
	tricky := `<img src=x onerror="window.pwned=1"><b>bold</b>`
	send(bob, tricky)
	ada.waitText(".chat-list", tricky)
	if n := ada.js(`document.querySelectorAll('.chat-list img, .chat-list b').length + (window.pwned ? 1 : 0)`); n != 0.0 {
		t.Errorf("a message's text became markup on the page (%v elements)", n)
	}

	// Bob answers Ada privately; Ada sees it is for her.
	bob.click(`.chat-list li:first-child [data-action=reply]`)
	bob.waitText(".chat-to", "Private message to Ada")
	send(bob, "Can we talk after?")
	ada.waitText(".chat-list li.direct", "Private to you")
	bob.click(".chat-to button")

	// Ada deletes her welcome; both see it deleted.
	ada.click(`.chat-list li.mine [data-action=delete]`)
	for _, tab := range []*uiTab{ada, bob} {
		tab.waitText(".chat-list li.deleted", "This message was deleted.")
	}

	// A mute is explained next to the composer.
	ada.click(`.chat-list li[data-kind=message]:not(.mine):not(.deleted) [data-action=mute]`)
	ada.waitText(".chat-hint", "Bob cannot write in the chat for 10 minutes")
	send(bob, "Am I muted?")
	bob.waitText(".chat-error", "A moderator muted you in this chat. You can write again in 10 min")
	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/standup/chat/mutes/"+bobJoin["identity"].(string), a.adminKey, nil)

	// The connection drops; a message posted meanwhile arrives once, after a
	// reconnect that resumes after the last seq.
	before := bob.js(`document.querySelectorAll('.chat-list li').length`).(float64)
	bob.js(`window.testSockets.at(-1).close(); true`)
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/standup/messages", adaJoin["token"].(string), map[string]any{"text": "Sent while Bob was away"})
	bob.waitText(".chat-list", "Sent while Bob was away")
	bob.waitJS(`document.querySelector('.chat').dataset.state === 'ready'`, "the chat reconnected")
	if got := bob.js(`document.querySelectorAll('.chat-list li').length`).(float64); got != before+1 {
		t.Errorf("after the reconnect the list has %v messages, want %v", got, before+1)
	}
	if u := bob.js(`window.testSockets.at(-1).url`).(string); !strings.Contains(u, "after=") || bob.js(`window.testSockets.length`) != 2.0 {
		t.Errorf("reconnected to %s, want one new socket with after=<seq>", u)
	}

	// Slow mode: a message too soon is refused with the wait, and the
	// button waits too.
	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/standup/chat", a.adminKey, map[string]any{"slow_mode_seconds": 60})
	send(bob, "First in slow mode")
	bob.waitJS(`document.querySelector('.chat-error').textContent.startsWith('Slow') || document.querySelector('.chat-composer textarea').value === ''`, "an answer")
	if bob.js(`document.querySelector('.chat-composer textarea').value`) == "" {
		send(bob, "Second in slow mode")
	}
	bob.waitText(".chat-error", "Slow mode is on in this room: you can send again in")
	if disabled := bob.js(`document.querySelector('.chat-composer button[type=submit]').disabled`); disabled != true {
		t.Errorf("send button enabled during slow mode")
	}
	bob.screenshot("chat-slow-mode")
	for _, tab := range []*uiTab{ada, bob} {
		tab.checkClean()
	}
}

// send types text into the page's chat and sends it with the button.
func send(tab *uiTab, text string) {
	tab.t.Helper()
	tab.fill(".chat-composer textarea", text)
	tab.click(".chat-composer button[type=submit]")
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestChatWidgetEarlierMessages: the widget opens on the latest 50 messages
// of a long chat and pages back through the rest with "Show earlier
// messages", in order, until the first; then the button goes.
func TestChatWidgetEarlierMessages(t *testing.T) {
	browser := startChromium(t)
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	t.Cleanup(a.srv.hls.Close)
	a.createRoom(map[string]any{"id": "long", "name": "Long talk"})
	var batch []storage.NewMessage
	for i := 1; i <= 120; i++ {
		batch = append(batch, storage.NewMessage{RoomID: "long", Sender: "ada", SenderName: "Ada", Kind: "message",
			Text: fmt.Sprintf("message %03d", i), CreatedAt: time.Now()})
	}
	if _, err := a.db.InsertMessages(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	tab := openWatch(t, browser, a, "long", a.joinWithToken("long", "bob", "Bob", "member"), "member Bob", desktop)
	shown := func() []string {
		var texts []string
		if err := json.Unmarshal([]byte(tab.js(`JSON.stringify([...document.querySelectorAll('.chat-list li .chat-text')].map((el) => el.textContent))`).(string)), &texts); err != nil {
			t.Fatal(err)
		}
		return texts
	}
	tab.waitJS(`document.querySelector('.chat')?.dataset.state === 'ready'`, "the chat")
	want := func(from int) []string {
		var out []string
		for i := from; i <= 120; i++ {
			out = append(out, fmt.Sprintf("message %03d", i))
		}
		return out
	}
	if got := shown(); !slices.Equal(got, want(71)) {
		t.Fatalf("opened on %d messages %v…, want the latest 50", len(got), got[:min(len(got), 3)])
	}
	for _, from := range []int{21, 1} {
		tab.click(".chat-earlier")
		tab.waitJS(fmt.Sprintf(`document.querySelectorAll('.chat-list li').length === %d`, 121-from), fmt.Sprintf("messages from %d on", from))
		if got := shown(); !slices.Equal(got, want(from)) {
			t.Fatalf("after loading earlier messages: %d messages starting %v, want %d from message %03d", len(got), got[:min(len(got), 3)], 121-from, from)
		}
	}
	tab.waitJS(`document.querySelector('.chat-earlier').hidden`, "the button gone at the first message")
	tab.checkClean()
}
