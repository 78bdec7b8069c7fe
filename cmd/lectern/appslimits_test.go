package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"lectern/storage/storagetest"
)

// TestAppLimits: each limit of an app, reached, refuses with 403
// app_limit_reached naming it; the same request works once the operator
// lifts the limit, and other apps are not affected.
func TestAppLimits(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": b.DataDir, "LECTERN_DATABASE_URL": b.DatabaseURL})
		defer stop()
		operator := keyLine.FindStringSubmatch(banner)[1]
		c := appsClient{t: t, url: url}
		c.must(201, "POST", "/api/v1/apps", operator, `{"id":"small","name":"Small",
			"limits":{"max_rooms":1,"max_participants":1,"max_hls_viewers":0,"max_recording_bytes":0}}`)
		key, _ := c.must(201, "POST", "/api/v1/apps/small/keys", operator, `{}`)["key"].(string)
		limited := func(what string, got int, code string, m map[string]any, limit string) {
			t.Helper()
			msg, _ := m["message"].(string)
			if got != 403 || code != "app_limit_reached" || !strings.Contains(msg, limit) {
				t.Errorf("%s: %d %s %q, want 403 app_limit_reached naming %s", what, got, code, msg, limit)
			}
		}

		c.must(201, "POST", "/api/v1/rooms", key, `{"id":"one","name":"One","broadcast":{"hls":true}}`)
		got, code, m := c.do("POST", "/api/v1/rooms", key, "application/json", `{"id":"two","name":"Two"}`)
		limited("a second room", got, code, m, "max_rooms")
		// The default app has no limits.
		c.must(201, "POST", "/api/v1/rooms", operator, `{"id":"two","name":"Two"}`)

		got, code, m = c.do("PATCH", "/api/v1/rooms/one/broadcast", key, "application/json", `{"record":true}`)
		limited("recording on", got, code, m, "max_recording_bytes")

		tok := func(identity string) string {
			s, _ := c.must(201, "POST", "/api/v1/tokens", key, `{"identity":"`+identity+`","rooms":{"one":{"preset":"host"}}}`)["token"].(string)
			return s
		}
		got, code, m = c.do("GET", "/hls/one/index.m3u8?token="+tok("viewer"), "", "", "")
		limited("an HLS viewer", got, code, m, "max_hls_viewers")

		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		wsURL := "ws" + strings.TrimPrefix(url, "http") + "/api/v1/rooms/one/ws?token="
		first, _, err := websocket.Dial(ctx, wsURL+tok("first"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := first.Read(ctx); err != nil { // the welcome
			t.Fatal(err)
		}
		_, res, err := websocket.Dial(ctx, wsURL+tok("second"), nil)
		if err == nil || res == nil || res.StatusCode != 403 {
			t.Errorf("a second participant: %v %v, want 403", res, err)
		}
		first.Close(websocket.StatusNormalClosure, "")

		usage := c.must(200, "GET", "/api/v1/apps/small", operator, "")["usage"].(map[string]any)
		if usage["rooms"] != float64(1) {
			t.Errorf("usage of small: %v", usage)
		}
		// The operator lifts every limit: all of it works.
		c.must(200, "PATCH", "/api/v1/apps/small", operator,
			`{"limits":{"max_rooms":null,"max_participants":null,"max_hls_viewers":null,"max_recording_bytes":null}}`)
		c.must(201, "POST", "/api/v1/rooms", key, `{"id":"two","name":"Two"}`)
		c.must(200, "PATCH", "/api/v1/rooms/one/broadcast", key, `{"record":true}`)
		if got, code, _ := c.do("GET", "/hls/one/index.m3u8?token="+tok("viewer"), "", "", ""); code != "broadcast_offline" {
			t.Errorf("an HLS viewer without a limit: %d %s, want broadcast_offline", got, code)
		}
		second, _, err := websocket.Dial(ctx, wsURL+tok("second"), nil)
		if err != nil {
			t.Fatalf("a second participant without a limit: %v", err)
		}
		second.Close(websocket.StatusNormalClosure, "")

		// Bad limits change nothing.
		for _, body := range []string{`{"limits":{"max_rooms":-1}}`, `{"limits":{"max_rooms":"ten"}}`, `{"limits":{"max_things":1}}`} {
			if got, code, _ := c.do("PATCH", "/api/v1/apps/small", operator, "application/json", body); got != 400 || code != "invalid_app" {
				t.Errorf("PATCH %s: %d %s, want 400 invalid_app", body, got, code)
			}
		}
		if l := c.must(200, "GET", "/api/v1/apps/small", operator, "")["limits"].(map[string]any); l["max_rooms"] != nil {
			t.Errorf("limits after bad requests: %v", l)
		}
		// The app's attendance retention: set, kept by a PATCH that leaves
		// it out, refused out of range, and given back to the server's by null.
		retention := func() any { return c.must(200, "GET", "/api/v1/apps/small", operator, "")["attendance_retention_days"] }
		c.must(200, "PATCH", "/api/v1/apps/small", operator, `{"attendance_retention_days":30}`)
		c.must(200, "PATCH", "/api/v1/apps/small", operator, `{"name":"Small app"}`)
		for _, body := range []string{`{"attendance_retention_days":0}`, `{"attendance_retention_days":3651}`, `{"attendance_retention_days":"a month"}`} {
			if got, code, _ := c.do("PATCH", "/api/v1/apps/small", operator, "application/json", body); got != 400 || code != "invalid_app" {
				t.Errorf("PATCH %s: %d %s, want 400 invalid_app", body, got, code)
			}
		}
		if got := retention(); got != float64(30) {
			t.Errorf("attendance_retention_days = %v, want 30", got)
		}
		c.must(200, "PATCH", "/api/v1/apps/small", operator, `{"attendance_retention_days":null}`)
		if got := retention(); got != nil {
			t.Errorf("attendance_retention_days after null = %v, want null", got)
		}
		// An app with rooms is not deleted; its rooms first.
		if got, code, _ := c.do("DELETE", "/api/v1/apps/small", operator, "", ""); got != 409 || code != "app_not_empty" {
			t.Errorf("deleting an app with rooms: %d %s", got, code)
		}
		c.must(204, "DELETE", "/api/v1/rooms/one", key, "")
		c.must(204, "DELETE", "/api/v1/rooms/two", key, "")
		c.must(204, "DELETE", "/api/v1/apps/small", operator, "")
		if got, code, _ := c.do("GET", "/api/v1/rooms", key, "", ""); got != 401 || code != "invalid_api_key" {
			t.Errorf("the key of a deleted app: %d %s, want 401 invalid_api_key", got, code)
		}
	})
}
