package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"lectern/webhook"
)

const testSecret = "0123456789abcdef-test-secret"

// receiver is an integrator's endpoint: it checks every delivery's
// signature, keeps the events in the order they arrived, and can be made to
// fail (down) or to hang (until the test ends).
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu     sync.Mutex
	events []webhook.Event
	ids    map[string]int // deliveries per event ID
	down   bool
	hang   bool
	stop   chan struct{}
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t, ids: map[string]int{}, stop: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		close(r.stop)
		r.srv.CloseClientConnections()
		r.srv.Close()
	})
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	down, hang := r.down, r.hang
	r.mu.Unlock()
	if hang {
		select {
		case <-r.stop:
		case <-req.Context().Done():
		}
		return
	}
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	if err := webhook.Verify([]byte(testSecret), body, req.Header.Get(webhook.SignatureHeader), time.Now(), webhook.DefaultTolerance); err != nil {
		r.t.Errorf("receiver: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.Type == "" || ev.CreatedAt.IsZero() {
		r.t.Errorf("receiver: bad event %s: %v", body, err)
		return
	}
	if got := req.Header.Get(webhook.EventIDHeader); got != ev.ID {
		r.t.Errorf("receiver: %s header %q, body ID %q", webhook.EventIDHeader, got, ev.ID)
	}
	r.mu.Lock()
	r.ids[ev.ID]++
	if r.ids[ev.ID] == 1 {
		r.events = append(r.events, ev)
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

func (r *receiver) setHang(hang bool) {
	r.mu.Lock()
	r.hang = hang
	r.mu.Unlock()
}

// received returns the events received so far, each once.
func (r *receiver) received() []webhook.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Event(nil), r.events...)
}

// duplicates returns the IDs delivered more than once.
func (r *receiver) duplicates() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, n := range r.ids {
		if n > 1 {
			out = append(out, id)
		}
	}
	return out
}

// waitFor polls until cond holds, failing the test after 30 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
