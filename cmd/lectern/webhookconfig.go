package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"lectern/webhook"
)

// webhookConfig is the server's webhook (docs/webhooks.md): off until
// webhook_url is set.
type webhookConfig struct {
	URL    string `yaml:"webhook_url"`
	Secret string `yaml:"webhook_secret"`
	// RetryFor is how long an undelivered event is retried (at least 1h).
	RetryFor time.Duration `yaml:"webhook_retry_for"`
	// MaxOutbox bounds the undelivered events kept in the database.
	MaxOutbox int `yaml:"webhook_max_outbox"`
}

func defaultWebhookConfig() webhookConfig {
	d := webhook.DefaultConfig()
	return webhookConfig{RetryFor: d.RetryFor, MaxOutbox: d.MaxOutbox}
}

func init() {
	settings = append(settings,
		setting{"webhook_url", "LECTERN_WEBHOOK_URL", "webhook-url", "URL that receives signed event POSTs (empty: no webhooks; docs/webhooks.md)", str(func(c *config) *string { return &c.Webhook.URL })},
		setting{"webhook_secret", "LECTERN_WEBHOOK_SECRET", "webhook-secret", "secret that signs webhook deliveries (at least 16 characters)", str(func(c *config) *string { return &c.Webhook.Secret })},
		setting{"webhook_retry_for", "LECTERN_WEBHOOK_RETRY_FOR", "webhook-retry-for", "how long an undelivered webhook event is retried (default 24h, at least 1h)", duration(func(c *config) *time.Duration { return &c.Webhook.RetryFor })},
		setting{"webhook_max_outbox", "LECTERN_WEBHOOK_MAX_OUTBOX", "webhook-max-outbox", "most undelivered webhook events kept; newer ones are dropped past it (default 100000)", func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			c.Webhook.MaxOutbox = n
			return nil
		}},
	)
}

// on reports whether webhooks are configured.
func (c webhookConfig) on() bool { return c.URL != "" }

// dispatcherConfig is the webhook package's configuration for node.
func (c webhookConfig) dispatcherConfig(node string) webhook.Config {
	d := webhook.DefaultConfig()
	d.URL, d.Secret, d.Node, d.RetryFor, d.MaxOutbox = c.URL, c.Secret, node, c.RetryFor, c.MaxOutbox
	return d
}

// validate reports the first invalid webhook value, naming its key.
func (c webhookConfig) validate() error {
	switch {
	case !c.on() && c.Secret != "":
		return errors.New("webhook_url: required with webhook_secret")
	case !c.on():
		return nil
	case c.RetryFor < webhook.MinRetryFor:
		return fmt.Errorf("webhook_retry_for: must be at least %v", webhook.MinRetryFor)
	case c.MaxOutbox < 1:
		return errors.New("webhook_max_outbox: must be positive")
	}
	return c.dispatcherConfig("").Validate()
}
