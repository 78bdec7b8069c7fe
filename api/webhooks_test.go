package api

import (
	"net/http"
	"testing"
	"time"

	"lectern/access"
	"lectern/storage"
	"lectern/storage/storagetest"
)

// TestWebhookOutboxShown: the admin sees what waits in the webhook outbox,
// why, and when it is tried again, and can retry it all now; nobody else can.
func TestWebhookOutboxShown(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "w", "name": "W"})
	ctx := t.Context()
	evs := []storage.WebhookEvent{
		{ID: "ev1", Type: "participant_joined", RoomID: "w", Body: []byte(`{}`)},
		{ID: "ev2", Type: "participant_left", RoomID: "w", Body: []byte(`{}`)},
	}
	if _, err := a.db.EnqueueWebhooks(ctx, evs, 100); err != nil {
		t.Fatal(err)
	}
	claimed, err := a.db.ClaimWebhooks(ctx, "node", 10, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := a.db.RetryWebhook(ctx, claimed[0].Seq, 2, time.Now().Add(time.Hour), "503 Service Unavailable"); err != nil {
		t.Fatal(err)
	}

	r := a.must(http.StatusOK, "GET", "/api/v1/webhooks", a.adminKey, nil)
	list, _ := r.body["events"].([]any)
	if r.body["waiting"] != float64(2) || len(list) != 2 {
		t.Fatalf("webhooks: %s", r.raw)
	}
	first := list[0].(map[string]any)
	if first["event_id"] != "ev1" || first["attempts"] != float64(2) || first["last_error"] != "503 Service Unavailable" || first["type"] != "participant_joined" {
		t.Errorf("first waiting event: %v", first)
	}
	if at, err := time.Parse(time.RFC3339Nano, first["next_attempt_at"].(string)); err != nil || time.Until(at) < 50*time.Minute {
		t.Errorf("next attempt %v (%v), want in about an hour", first["next_attempt_at"], err)
	}
	if r := a.do("GET", "/api/v1/webhooks", a.tokenFor("host", "w", access.Host), nil); r.status == http.StatusOK {
		t.Errorf("a room token sees the webhook outbox: %s", r.raw)
	}
	if r := a.must(http.StatusOK, "POST", "/api/v1/webhooks/retry", a.adminKey, nil); r.body["rescheduled"] != float64(1) {
		t.Errorf("retry: %s", r.raw)
	}
	r = a.must(http.StatusOK, "GET", "/api/v1/webhooks", a.adminKey, nil)
	first = r.body["events"].([]any)[0].(map[string]any)
	if at, _ := time.Parse(time.RFC3339Nano, first["next_attempt_at"].(string)); time.Until(at) > time.Minute {
		t.Errorf("after retry, next attempt %v", first["next_attempt_at"])
	}
}
