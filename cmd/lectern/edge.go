package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// edgeConfig is how the server treats clients at its edge: how long one may
// hold a connection without doing its part, which sites may frame the watch
// page, how many wrong keys an address may try (docs/security.md).
type edgeConfig struct {
	// HTTPHeader: a request's header must arrive within this.
	HTTPHeader time.Duration `yaml:"http_header_timeout"`
	// HTTPBody: a request's body must arrive within this after its header.
	HTTPBody time.Duration `yaml:"http_body_timeout"`
	// HTTPIdle: a kept-alive connection without a request is closed after this.
	HTTPIdle time.Duration `yaml:"http_idle_timeout"`
	// RTSPRead: an RTSP connection's first request, and any request once
	// begun, must arrive within this; an encoder sending nothing for this
	// long is cut.
	RTSPRead time.Duration `yaml:"rtsp_read_timeout"`
	// RTSPIdle: an RTSP connection that neither plays nor records and sends
	// no request for this long is closed. Clients keep sessions alive every
	// 30 s (half the 60 s session timeout the server announces).
	RTSPIdle time.Duration `yaml:"rtsp_idle_timeout"`
	// WSPing: how often websockets are pinged; a client that does not
	// answer within it is dropped.
	WSPing time.Duration `yaml:"ws_ping_interval"`
	// EmbedOrigins may frame the watch page (api.Config.EmbedOrigins).
	EmbedOrigins []string `yaml:"embed_origins"`
	// KeyFailures: wrong API keys, and apart wrong stream keys, an address
	// may send a minute (api.Config.KeyFailuresPerAddr).
	KeyFailures int `yaml:"key_failures_per_addr"`
}

func defaultEdgeConfig() edgeConfig {
	return edgeConfig{HTTPHeader: 10 * time.Second, HTTPBody: 10 * time.Second, HTTPIdle: 2 * time.Minute,
		RTSPRead: 10 * time.Second, RTSPIdle: 90 * time.Second, WSPing: 15 * time.Second, KeyFailures: 10}
}

func init() {
	settings = append(settings,
		setting{"http_header_timeout", "LECTERN_HTTP_HEADER_TIMEOUT", "http-header-timeout", "time a request's header may take to arrive", duration(func(c *config) *time.Duration { return &c.Edge.HTTPHeader })},
		setting{"http_body_timeout", "LECTERN_HTTP_BODY_TIMEOUT", "http-body-timeout", "time a request's body may take to arrive after its header (then 408)", duration(func(c *config) *time.Duration { return &c.Edge.HTTPBody })},
		setting{"http_idle_timeout", "LECTERN_HTTP_IDLE_TIMEOUT", "http-idle-timeout", "how long a kept-alive HTTP connection may wait for its next request", duration(func(c *config) *time.Duration { return &c.Edge.HTTPIdle })},
		setting{"rtsp_read_timeout", "LECTERN_RTSP_READ_TIMEOUT", "rtsp-read-timeout", "time an RTSP request may take to arrive; an encoder silent this long is cut", duration(func(c *config) *time.Duration { return &c.Edge.RTSPRead })},
		setting{"rtsp_idle_timeout", "LECTERN_RTSP_IDLE_TIMEOUT", "rtsp-idle-timeout", "how long an RTSP connection that neither plays nor records may go without a request", duration(func(c *config) *time.Duration { return &c.Edge.RTSPIdle })},
		setting{"ws_ping_interval", "LECTERN_WS_PING_INTERVAL", "ws-ping-interval", "how often room and chat websockets are pinged; a client silent that long after a ping is dropped", duration(func(c *config) *time.Duration { return &c.Edge.WSPing })},
		setting{"embed_origins", "LECTERN_EMBED_ORIGINS", "embed-origins", "comma-separated origins (https://example.com) whose pages may frame the watch page", func(c *config, v string) error {
			c.Edge.EmbedOrigins = splitList(v)
			return nil
		}},
		setting{"key_failures_per_addr", "LECTERN_KEY_FAILURES_PER_ADDR", "key-failures-per-addr", "wrong API keys (and apart, wrong stream keys) an address may send a minute before 429", func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			c.Edge.KeyFailures = n
			return nil
		}},
	)
}

// validate reports the first invalid value, naming its key. api and ingest
// check theirs again.
func (c edgeConfig) validate() error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"http_header_timeout", c.HTTPHeader}, {"http_body_timeout", c.HTTPBody}, {"http_idle_timeout", c.HTTPIdle},
		{"rtsp_read_timeout", c.RTSPRead}, {"rtsp_idle_timeout", c.RTSPIdle}, {"ws_ping_interval", c.WSPing}} {
		if d.v < time.Second {
			return fmt.Errorf("%s: must be at least 1s", d.key)
		}
	}
	if c.RTSPIdle < c.RTSPRead {
		return errors.New("rtsp_idle_timeout: must be at least rtsp_read_timeout")
	}
	if c.KeyFailures < 1 {
		return errors.New("key_failures_per_addr: must be at least 1")
	}
	return nil
}
