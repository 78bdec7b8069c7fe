package api

import (
	"encoding/json"
	"testing"
)

var clientMessageSeeds = []string{
	`{"type":"publish","id":"1","sdp":"v=0","sources":{"a":"camera"}}`,
	`{"type":"answer","sdp":"v=0"}`,
	`{"type":"candidate","target":"publisher","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0"}}`,
	`{"type":"subscribe","tracks":["TR_1"]}`,
	`{"type":"layer","track":"TR_1","layer":"auto"}`,
	`{"type":"mute","track":"TR_1","muted":true}`,
	`{"type":"pause","track":"TR_1","paused":false}`,
	`{"type":"remove","participant":"PA_1"}`,
	`{"type":"targets","rooms":["a","b"]}`,
	`{"type":"ping"}`, `{"type":"leave"}`,
	`{"type":"view","track":"TR_1","width":320,"height":180}`, `{"type":"view","track":"TR_1","width":0,"height":0}`,
	`{"type":"view","track":"TR_1","width":-1,"height":5}`, `{"type":"view","track":"TR_1","width":5}`, `{"type":"view","track":"TR_1","width":1,"height":99999}`,
	`{"type":"publish","sdp":"v=0","sources":{"a":"webcam"}}`,
	`{"type":"mute","track":"x"}`, `{"type":"fly"}`, `{}`, `[]`, `{"type":"ping","x":1}`,
}

func TestDecodeClientMessage(t *testing.T) {
	valid := map[string]bool{}
	for _, s := range clientMessageSeeds[:13] {
		valid[s] = true
	}
	for _, s := range clientMessageSeeds {
		_, err := decodeClientMessage([]byte(s))
		if (err == nil) != valid[s] {
			t.Errorf("%s: err = %v, want valid=%v", s, err, valid[s])
		}
	}
}

func FuzzClientMessage(f *testing.F) {
	for _, s := range clientMessageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeClientMessage(data)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Code != codeInvalidMessage || e.Message == "" {
				t.Fatalf("%q: error %v is not an invalid_message", data, err)
			}
			return
		}
		// A valid message survives a round trip unchanged in type.
		b, _ := json.Marshal(m)
		back, err := decodeClientMessage(b)
		if err != nil || back.Type != m.Type {
			t.Fatalf("%q -> %s -> %v", data, b, err)
		}
	})
}
