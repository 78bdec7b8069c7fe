package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lectern/storage/storagetest"
)

// fuzzBodies sends fuzzed JSON to one endpoint of a real API over SQLite and
// checks that the answer is never a 5xx and that every error is JSON with a code.
func fuzzBodies(f *testing.F, method, path string, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	a := newTestAPI(f, storagetest.Backend{Name: "sqlite", DataDir: f.TempDir()})
	a.createRoom(map[string]any{"id": "fz", "name": "Fuzz", "mode": "webinar"})
	h := a.srv.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.adminKey)
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%q: error body %s", body, rec.Body)
			}
		}
	})
}

func FuzzRoomBody(f *testing.F) {
	fuzzBodies(f, "POST", "/api/v1/rooms",
		`{"name":"A","mode":"webinar","tier":"fhd","broadcast":{"hls":true}}`,
		`{"id":"x-1","name":"B"}`, `{"name":""}`, `{"name":"C","mode":"lecture"}`, `[]`, `null`,
		`{"name":"D","media":{"preset":"audio_only"}}`, `{"name":"E","media":{"sources":["camera","webcam"]}}`)
}

func FuzzRoomPatchBody(f *testing.F) {
	fuzzBodies(f, "PATCH", "/api/v1/rooms/fz", `{"name":"New","tier":"sd"}`, `{"broadcast":{"record":false}}`, `{"id":"z"}`, `{"locked":true}`,
		`{"media":{"sources":[],"simulcast":false}}`, `{"media":{"preset":"everything","sources":null}}`, `{"media":{"sources":[""]}}`)
}

func FuzzMemberBody(f *testing.F) {
	fuzzBodies(f, "POST", "/api/v1/rooms/fz/members",
		`{"identity":"a","preset":"host"}`, `{"identity":"b","permissions":["publish"],"tier":"sd"}`,
		`{"identity":"c","permissions":{"list":true}}`, `{"identity":"d","preset":"x","permissions":[]}`,
		`{"identity":"e","media_sources":["screen"]}`, `{"identity":"f","media_sources":["screen",7]}`)
}

func FuzzTokenBody(f *testing.F) {
	fuzzBodies(f, "POST", "/api/v1/tokens",
		`{"identity":"a","rooms":{"fz":{}}}`, `{"identity":"a","ttl_seconds":60,"rooms":{"fz":{"preset":"viewer","tier":"sd"}}}`,
		`{"identity":"a","rooms":{"nope":{}}}`, `{"identity":"a","rooms":{"fz":{"media_sources":["camera"]}}}`)
}

func FuzzJoinBody(f *testing.F) {
	fuzzBodies(f, "POST", "/api/v1/rooms/fz/join", `{"pin":"12345678","name":"Ada"}`, `{"pin":"","name":""}`, `{"pin":1}`)
}

func FuzzPINsBody(f *testing.F) {
	fuzzBodies(f, "POST", "/api/v1/rooms/fz/pins", `{"which":"pin"}`, `{"which":"both"}`, `{"which":7}`)
}

func TestErrorStatusesAreDefined(t *testing.T) {
	// Every non-internal error path must produce a 4xx; a plain error is internal.
	if e := apiError(http.ErrBodyNotAllowed); e.Status != 500 || e.Code != codeInternal {
		t.Errorf("plain error = %+v", e)
	}
}
