package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

var stageFrameCases = []struct {
	frame string
	ok    bool
}{
	{`{"type":"hand_raise","id":"1"}`, true},
	{`{"type":"hand_lower"}`, true},
	{`{"type":"stage_accept","id":"a"}`, true},
	{`{"type":"stage_decline"}`, true},
	{`{"type":"stage_leave"}`, true},
	{`{"type":"stage_invite","identity":"guest-3f9a","permissions":["send"],"tier":"sd"}`, true},
	{`{"type":"stage_invite","identity":"bob"}`, true},
	{`{"type":"stage_dismiss","identity":"bob"}`, true},
	{`{"type":"stage_withdraw","identity":"bob"}`, true},
	{`{"type":"stage_end","identity":"bob"}`, true},
	{`{"type":"hand_raise","identity":"bob"}`, false},
	{`{"type":"stage_accept","tier":"hd"}`, false},
	{`{"type":"stage_dismiss","identity":"bob","tier":"hd"}`, false},
	{`{"type":"stage_invite"}`, false},
	{`{"type":"stage_invite","identity":"a b"}`, false},
	{`{"type":"stage_invite","identity":"bob","permissions":["fly"]}`, false},
	{`{"type":"stage_end","identity":"` + strings.Repeat("x", 129) + `"}`, false},
	{`{"type":"hand_raise","id":"` + strings.Repeat("i", 65) + `"}`, false},
	{`{"type":"hand_raise","extra":1}`, false},
	{"{\"type\":\"hand_raise\",\"id\":\"\xff\"}", false},
	{`{"type":"dance"}`, false},
	{`{}`, false},
	{`{"type":"hand_raise"} {"type":"hand_raise"}`, false},
	{`[]`, false},
	{``, false},
}

func TestDecodeStageFrame(t *testing.T) {
	for _, tc := range stageFrameCases {
		_, err := decodeStageFrame([]byte(tc.frame))
		if (err == nil) != tc.ok {
			t.Errorf("%.60q: %v, want ok=%t", tc.frame, err, tc.ok)
		}
		if err != nil && err.(*Error).Code != codeInvalidMessage {
			t.Errorf("%.60q: code %q", tc.frame, err.(*Error).Code)
		}
	}
}

func FuzzStageFrame(f *testing.F) {
	for _, tc := range stageFrameCases {
		f.Add([]byte(tc.frame))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeStageFrame(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" || e.Status != http.StatusBadRequest || len(fr.ID) > maxMessageIDBytes {
				t.Fatalf("%q: error %#v, frame %+v", data, err, fr)
			}
			return
		}
		// What was accepted encodes and decodes to the same frame.
		again, err := json.Marshal(fr)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeStageFrame(again)
		if err != nil || back != fr {
			t.Fatalf("%q -> %s -> %+v, %v", data, again, back, err)
		}
	})
}

func FuzzInvitationBody(f *testing.F) {
	fuzzBodies(f, "POST", "/api/v1/rooms/fz/stage/invitations",
		`{"identity":"a"}`, `{"identity":"b","permissions":["send"],"tier":"sd"}`, `{"identity":"c","tier":"8k"}`,
		`{"identity":""}`, `{"identity":"d","permissions":{"moderate":true}}`, `[]`)
}
