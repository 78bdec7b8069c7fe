package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lectern/access"
	"lectern/chat"
	"lectern/storage/storagetest"
)

var chatFrameCases = []struct {
	frame string
	code  string // "" when valid
}{
	{`{"type":"chat_send","id":"1","text":"hello"}`, ""},
	{`{"type":"chat_send","text":"to you","to":"guest-3f9a0c21b7e4"}`, ""},
	{`{"type":"chat_delete","id":"2","message":42}`, ""},
	{`{"type":"chat_approve","message":7}`, ""},
	{`{"type":"chat_answer","message":7}`, ""},
	{`{"type":"chat_mute","identity":"bob","seconds":600}`, ""},
	{`{"type":"chat_mute","identity":"bob","seconds":0}`, ""},
	{`{"type":"ping","id":"p"}`, ""},
	{`{"type":"leave"}`, ""},
	{`{"type":"chat_send","text":""}`, codeInvalidChatMessage},
	{`{"type":"chat_send","text":"` + strings.Repeat("a", 4001) + `"}`, codeInvalidChatMessage},
	{`{"type":"chat_send","text":"hi","to":"a b"}`, codeInvalidChatMessage},
	{`{"type":"chat_send"}`, codeInvalidMessage},
	{`{"type":"chat_send","text":5}`, codeInvalidMessage},
	{`{"type":"chat_send","text":"hi","extra":1}`, codeInvalidMessage},
	{"{\"type\":\"chat_send\",\"text\":\"\xff\"}", codeInvalidMessage},
	{`{"type":"chat_delete","message":0}`, codeInvalidMessage},
	{`{"type":"chat_delete","message":-3}`, codeInvalidMessage},
	{`{"type":"chat_mute","identity":"bob"}`, codeInvalidMessage},
	{`{"type":"chat_mute","identity":"bob","seconds":-1}`, codeInvalidMessage},
	{`{"type":"chat_mute","identity":"","seconds":5}`, codeInvalidMessage},
	{`{"type":"chat_send","id":"` + strings.Repeat("i", 65) + `","text":"x"}`, codeInvalidMessage},
	{`{"type":"dance"}`, codeInvalidMessage},
	{`{}`, codeInvalidMessage},
	{`{"type":"ping"} {"type":"ping"}`, codeInvalidMessage},
	{`[]`, codeInvalidMessage},
	{``, codeInvalidMessage},
}

func TestDecodeChatFrame(t *testing.T) {
	for _, tc := range chatFrameCases {
		f, err := decodeChatFrame([]byte(tc.frame))
		code := ""
		if err != nil {
			code = err.(*Error).Code
		}
		if code != tc.code {
			t.Errorf("%.60q: code %q (%v), want %q", tc.frame, code, err, tc.code)
		}
		if err == nil && !isChatFrame(f.Type) && f.Type != "ping" && f.Type != "leave" {
			t.Errorf("%.60q: accepted type %q", tc.frame, f.Type)
		}
	}
}

func FuzzChatFrame(f *testing.F) {
	for _, tc := range chatFrameCases {
		f.Add([]byte(tc.frame))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeChatFrame(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" || e.Status != http.StatusBadRequest {
				t.Fatalf("%q: error %#v", data, err)
			}
			return
		}
		if fr.Type == chatSend && chat.CheckText(*fr.Text) != nil {
			t.Fatalf("%q: accepted text %q", data, *fr.Text)
		}
		// What was accepted encodes and decodes to the same frame.
		again, err := json.Marshal(fr)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeChatFrame(again)
		if err != nil || back.Type != fr.Type || back.ID != fr.ID || back.Message != fr.Message {
			t.Fatalf("%q -> %s -> %+v, %v", data, again, back, err)
		}
	})
}

// FuzzChatPostBody posts fuzzed bodies as a member: never a 5xx, every
// error JSON with a code.
func FuzzChatPostBody(f *testing.F) {
	for _, s := range []string{`{"text":"hi"}`, `{"text":"hi","to":"bob"}`, `{"text":""}`, `{"text":"x","to":""}`,
		`{"text":1}`, "{\"text\":\"\xff\"}", `{"text":"a","b":2}`, `null`} {
		f.Add(s)
	}
	a := newTestAPI(f, storagetest.Backend{Name: "sqlite", DataDir: f.TempDir()})
	a.createRoom(map[string]any{"id": "fz", "name": "Fuzz"})
	h := a.srv.Handler()
	// Inputs take turns among many identities, which keeps the rate limit
	// mostly out of the way (a 429 would pass too).
	var tokens []string
	for i := range 100 {
		tokens = append(tokens, a.tokenFor(fmt.Sprint("f", i), "fz", access.Member))
	}
	n := 0
	f.Fuzz(func(t *testing.T, body string) {
		n++
		req := httptest.NewRequest("POST", "/api/v1/rooms/fz/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[n%len(tokens)])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%q: error body %s", body, rec.Body)
			}
		}
	})
}

func FuzzChatSettingsBody(f *testing.F) {
	fuzzBodies(f, "PATCH", "/api/v1/rooms/fz/chat", `{"questions":true}`, `{"slow_mode_seconds":30}`,
		`{"slow_mode_seconds":-1}`, `{"questions":"yes"}`, `{"slow":1}`)
}

func FuzzMuteBody(f *testing.F) {
	fuzzBodies(f, "PUT", "/api/v1/rooms/fz/chat/mutes/bob", `{"seconds":60}`, `{"seconds":0}`, `{"seconds":1e9}`, `{}`)
}
