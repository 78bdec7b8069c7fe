package api

import (
	"net/http"
	"strings"
	"testing"

	"lectern/storage/storagetest"
)

func TestObservability(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.must(http.StatusOK, "GET", "/healthz", "", nil)
	if r := a.must(http.StatusOK, "GET", "/readyz", "", nil); r.str("database") != "sqlite" {
		t.Errorf("readyz = %s", r.raw)
	}
	r := a.do("GET", "/api/v1/nowhere", "", nil)
	if r.status != 404 || r.code() != "not_found" || len(r.header.Get("X-Request-ID")) == 0 {
		t.Errorf("unknown route: %d %s %v", r.status, r.raw, r.header)
	}
	if r := a.do("PUT", "/api/v1/rooms", a.adminKey, nil); r.status != 405 || r.code() != "method_not_allowed" {
		t.Errorf("wrong method: %d %s", r.status, r.raw)
	}
	m := a.must(http.StatusOK, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`lectern_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`lectern_http_requests_total{code="200",method="GET",route="/readyz"} 1`,
		`lectern_db_open_connections{backend="sqlite"}`,
		`lectern_sfu_participants 0`,
		`lectern_sfu_rooms 0`,
		`lectern_sfu_nacked_packets_total 0`,
		`lectern_sfu_recovered_packets_total 0`,
		`lectern_sfu_queue_dropped_packets_total 0`,
		`lectern_hls_viewers 0`,
		`lectern_hls_waiting_requests 0`,
		`lectern_hls_requests_total 0`,
	} {
		if !strings.Contains(string(m.raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	page := a.must(http.StatusOK, "GET", "/", "", nil)
	if !strings.Contains(string(page.raw), "Lectern</title>") {
		t.Errorf("landing page: %.200s", page.raw)
	}
}

func TestRequestIDIsEchoed(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", a.url+"/healthz", nil)
	req.Header.Set("X-Request-ID", "abc-123")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("X-Request-ID = %q", got)
	}
}
