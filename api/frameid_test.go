package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"lectern/access"
	"lectern/storage/storagetest"
)

// badFramesWithID are frames that fail to decode at a field before, or
// after, their id; the error reply must carry the id anyway.
var badFramesWithID = []struct{ frame, id string }{
	{`{"type":"mute","muted":"yes","id":"q1"}`, "q1"},
	{`{"width":"wide","type":"view","track":"t","height":1,"id":"q2"}`, "q2"},
	{`{"bogus":1,"id":"q3","type":"ping"}`, "q3"},
	{`{"type":"subscribe","tracks":"TR_x","id":"q4"}`, "q4"},
	{`{"type":"candidate","candidate":7,"target":"publisher","id":"q5"}`, "q5"},
	{`{"type":"publish","id":"q6"}`, "q6"}, // fails validation, after decoding
	{`{"type":"ping","id":"` + strings.Repeat("x", maxMessageIDBytes+1) + `"}`, ""},
	{`{"type":"ping","id":7}`, ""},
	{`{"type":"ping","id":"q7"`, ""}, // no JSON object: nothing to echo
}

// TestErrorRepliesEchoID checks, on the decoders and on a live room socket,
// that an error reply names the request's id even when the bad field comes
// before "id".
func TestErrorRepliesEchoID(t *testing.T) {
	for _, tc := range badFramesWithID {
		m, err := decodeClientMessage([]byte(tc.frame))
		if err == nil || m.ID != tc.id {
			t.Errorf("room frame %.60s: id %q, err %v; want an error with id %q", tc.frame, m.ID, err, tc.id)
		}
	}
	for _, tc := range []struct{ frame, id string }{
		{`{"type":"chat_send","text":7,"id":"c1"}`, "c1"},
		{`{"seconds":"long","type":"chat_mute","identity":"x","id":"c2"}`, "c2"},
		{`{"message":"first","type":"chat_delete","id":"c3"}`, "c3"},
	} {
		f, err := decodeChatFrame([]byte(tc.frame))
		if err == nil || f.ID != tc.id {
			t.Errorf("chat frame %s: id %q, err %v; want an error with id %q", tc.frame, f.ID, err, tc.id)
		}
	}

	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "ids", "name": "IDs"})
	c := dialRoom(t, a, "ids", a.tokenFor("kim", "ids", access.Member))
	c.next("welcome")
	for _, frame := range []string{`{"type":"mute","muted":"yes","id":"q1"}`, `{"type":"chat_send","text":7,"id":"c1"}`} {
		if err := c.sendRaw(websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if e := c.next("error"); e["id"] == nil || !strings.Contains(frame, `"id":"`+e["id"].(string)+`"`) || e["code"] != codeInvalidMessage {
			t.Errorf("%s: reply %v, want invalid_message with the request's id", frame, e)
		}
	}
}

// FuzzFrameID checks that a frame's error reply echoes its id whenever the
// frame is a JSON object with a short string id.
func FuzzFrameID(f *testing.F) {
	for _, tc := range badFramesWithID {
		f.Add(tc.frame)
	}
	f.Fuzz(func(t *testing.T, frame string) {
		m, err := decodeClientMessage([]byte(frame))
		if err == nil {
			return
		}
		var probe struct {
			ID string `json:"id"`
		}
		if json.Unmarshal([]byte(frame), &map[string]json.RawMessage{}) != nil || json.Unmarshal([]byte(frame), &probe) != nil {
			return
		}
		if len(probe.ID) <= maxMessageIDBytes && m.ID != probe.ID {
			t.Fatalf("%q: error reply id %q, want %q", frame, m.ID, probe.ID)
		}
	})
}
