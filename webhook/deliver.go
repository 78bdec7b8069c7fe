package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"lectern/storage"
)

// deliverLoop claims the outbox's due events (the oldest of each room) and
// delivers them, Workers at a time, until ctx ends. It looks again at once
// after a round that had work, when persistLoop stored something, and every
// Poll otherwise (retries that came due, other nodes' events).
func (d *Dispatcher) deliverLoop(ctx context.Context) {
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	for {
		claimCtx, cancel := context.WithTimeout(ctx, storeTimeout)
		evs, err := d.db.ClaimWebhooks(claimCtx, d.cfg.Node, d.cfg.Workers, d.cfg.Timeout+leaseMargin)
		cancel()
		if err != nil && ctx.Err() == nil {
			d.warns.warn(d.log, "claim", "webhook outbox not readable", "err", err)
		}
		if len(evs) > 0 {
			var wg sync.WaitGroup
			for _, ev := range evs {
				wg.Go(func() { d.deliver(ctx, ev) })
			}
			wg.Wait()
			if ctx.Err() == nil {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		case <-tick.C:
		}
	}
}

// deliver makes one attempt at ev and records its outcome: delivered
// events leave the outbox; failed ones wait for their backoff, or are given
// up once older than RetryFor. An attempt cut short by shutdown is released
// as it was, to be made again by whichever node runs next.
func (d *Dispatcher) deliver(ctx context.Context, ev storage.WebhookEvent) {
	err := d.post(ctx, ev)
	done, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	now := time.Now()
	log := d.log.With("event", ev.ID, "type", ev.Type, "room", ev.RoomID)
	switch {
	case err == nil:
		d.stats.delivered.Add(1)
		log.Debug("webhook delivered", "attempts", ev.Attempts+1)
		err = d.db.DeleteWebhook(done, ev.Seq)
	case ctx.Err() != nil:
		err = d.db.RetryWebhook(done, ev.Seq, ev.Attempts, now, ev.LastError)
	case now.Sub(ev.CreatedAt) >= d.cfg.RetryFor:
		d.stats.expired.Add(1)
		log.Warn("webhook event given up", "attempts", ev.Attempts+1, "since", ev.CreatedAt, "err", err)
		err = d.db.DeleteWebhook(done, ev.Seq)
	default:
		d.stats.failed.Add(1)
		wait := backoff(ev.Attempts, d.cfg.MinBackoff, d.cfg.MaxBackoff)
		d.warns.warn(log, "deliver", "webhook delivery failed; will retry", "attempts", ev.Attempts+1, "retry_in", wait, "err", err)
		err = d.db.RetryWebhook(done, ev.Seq, ev.Attempts+1, now.Add(wait), err.Error())
	}
	if err != nil {
		d.warns.warn(d.log, "record", "webhook outcome not recorded; the event will be tried again", "event", ev.ID, "err", err)
	}
}

// post sends ev once. Only a 2xx answer delivers it.
func (d *Dispatcher) post(ctx context.Context, ev storage.WebhookEvent) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(ev.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Lectern-Webhook/1")
	req.Header.Set(EventIDHeader, ev.ID)
	req.Header.Set(EventTypeHeader, ev.Type)
	req.Header.Set(SignatureHeader, Sign([]byte(d.cfg.Secret), ev.Body, time.Now()))
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// backoff is the wait after a failure of an event that had failed attempts
// times before: min doubled that many times, capped at max.
func backoff(attempts int, lo, hi time.Duration) time.Duration {
	d := lo
	for range attempts {
		if d >= hi/2 {
			return hi
		}
		d *= 2
	}
	return min(d, hi)
}
