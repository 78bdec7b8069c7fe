package api

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/storage"
)

// The webhook outbox as operators see it (the console's Webhooks card):
// what waits to be delivered and why, and a retry of everything waiting
// once a receiver is back. Delivered events leave the outbox.

// webhookHandlers show the webhook outbox to the admin and retry it.
type webhookHandlers struct {
	cfg Config
	db  *storage.DB
	reporter
}

func (s *webhookHandlers) routes(r router) {
	r.v1.GET("/webhooks", r.gate.operator, s.webhookStatus)
	r.v1.POST("/webhooks/retry", r.gate.operator, s.retryWebhooks)
}

// maxWaitingShown bounds the waiting events one answer lists.
const maxWaitingShown = 50

// waitingJSON is one event waiting in the outbox.
type waitingJSON struct {
	ID            string    `json:"event_id"`
	Type          string    `json:"type"`
	Room          string    `json:"room"`
	CreatedAt     time.Time `json:"created_at"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
}

// webhookStatus: GET /api/v1/webhooks.
func (s *webhookHandlers) webhookStatus(c *gin.Context) {
	ctx := c.Request.Context()
	waiting, err := s.db.WebhookBacklog(ctx)
	if err != nil {
		s.abort(c, err)
		return
	}
	evs, err := s.db.WaitingWebhooks(ctx, maxWaitingShown)
	if err != nil {
		s.abort(c, err)
		return
	}
	out := make([]waitingJSON, len(evs))
	for i, ev := range evs {
		out[i] = waitingJSON{ID: ev.ID, Type: ev.Type, Room: ev.RoomID, CreatedAt: ev.CreatedAt.UTC(),
			Attempts: ev.Attempts, NextAttemptAt: ev.NextAt.UTC(), LastError: ev.LastError}
	}
	c.JSON(http.StatusOK, gin.H{"receiver": receiverHost(s.cfg.WebhookURL), "waiting": waiting, "events": out})
}

// receiverHost is the webhook URL's scheme and host, without a path that
// may carry a secret ("" without webhooks).
func receiverHost(u string) string {
	p, err := url.Parse(u)
	if u == "" || err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// retryWebhooks: POST /api/v1/webhooks/retry makes every event waiting for a
// retry due now.
func (s *webhookHandlers) retryWebhooks(c *gin.Context) {
	n, err := s.db.RetryWebhooksNow(c.Request.Context())
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"rescheduled": n})
}
