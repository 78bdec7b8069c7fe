package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lectern.yaml")
	yaml := "http_addr: \":9000\"\nrtsp_addr: \":9554\"\ndata_dir: /from/yaml\ntoken_ttl: 2h\ntrusted_proxies: [10.0.0.0/8]\ns3_bucket: rec\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LECTERN_RTSP_ADDR": ":7554", "LECTERN_DATA_DIR": "/from/env", "LECTERN_WEBRTC_UDP_PORT": "9999"}
	c, err := loadConfig([]string{"--config", path, "--data-dir", "/from/flag"}, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	want.HTTPAddr = ":9000"     // YAML over default
	want.RTSPAddr = ":7554"     // env over YAML
	want.DataDir = "/from/flag" // flag over env
	want.WebRTCUDPPort = 9999
	want.TokenTTL = 2 * time.Hour
	want.TrustedProxies = []string{"10.0.0.0/8"}
	if c.HTTPAddr != want.HTTPAddr || c.RTSPAddr != want.RTSPAddr || c.DataDir != want.DataDir ||
		c.WebRTCUDPPort != want.WebRTCUDPPort || c.TokenTTL != want.TokenTTL || strings.Join(c.TrustedProxies, ",") != "10.0.0.0/8" || c.S3.Bucket != "rec" {
		t.Errorf("config = %+v\nwant     %+v", c, want)
	}

	d, err := loadConfig(nil, envOf(nil), io.Discard)
	if err != nil || d.HTTPAddr != ":8080" || d.RTSPAddr != ":8554" || d.WebRTCUDPPort != 7881 || d.DataDir != "./data" || d.DatabaseURL != "" {
		t.Errorf("defaults = %+v, %v", d, err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("http_adr: \":1\"\n"), 0o600)
	cases := []struct {
		args []string
		env  map[string]string
		key  string
	}{
		{[]string{"--config", unknown}, nil, "http_adr"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, nil, "missing.yaml"},
		{nil, map[string]string{"LECTERN_HTTP_ADDR": "8080"}, "http_addr"},
		{[]string{"--rtsp", "nowhere"}, nil, "rtsp_addr"},
		{nil, map[string]string{"LECTERN_WEBRTC_UDP_PORT": "seven"}, "webrtc_udp_port"},
		{[]string{"--webrtc-udp-port", "70000"}, nil, "webrtc_udp_port"},
		{[]string{"--database-url", "mysql://x"}, nil, "database_url"},
		{[]string{"--tls-cert", "a.pem"}, nil, "tls_cert"},
		{[]string{"--public-url", "ftp://x"}, nil, "public_url"},
		{[]string{"--log-level", "loud"}, nil, "log_level"},
		{[]string{"--token-ttl", "soon"}, nil, "token_ttl"},
		{[]string{"--token-ttl", "30s"}, nil, "token_ttl"},
		{[]string{"--webrtc-listen-ip", "localhost"}, nil, "webrtc_listen_ip"},
		{nil, map[string]string{"LECTERN_WEBRTC_PUBLIC_IPS": "10.0.0.1,gateway"}, "webrtc_public_ips"},
		{[]string{"--data-dir", ""}, nil, "data_dir"},
		{[]string{"stray"}, nil, "stray"},
		{[]string{"--s3-endpoint", "127.0.0.1:9000"}, nil, "s3_bucket"},
		{[]string{"--s3-endpoint", "http://minio:9000", "--s3-bucket", "b", "--s3-access-key", "a", "--s3-secret-key", "s"}, nil, "s3_endpoint"},
		{nil, map[string]string{"LECTERN_S3_USE_SSL": "maybe"}, "s3_use_ssl"},
		{nil, map[string]string{"LECTERN_S3_PUBLIC_URL": "localhost:9000"}, "s3_public_url"},
		{nil, map[string]string{"LECTERN_WEBHOOK_SECRET": "0123456789abcdef"}, "webhook_url"},
		{nil, map[string]string{"LECTERN_WEBHOOK_URL": "hooks.example.com/in", "LECTERN_WEBHOOK_SECRET": "0123456789abcdef"}, "webhook_url"},
		{nil, map[string]string{"LECTERN_WEBHOOK_URL": "https://hooks.example.com/in"}, "webhook_secret"},
		{nil, map[string]string{"LECTERN_WEBHOOK_URL": "https://hooks.example.com/in", "LECTERN_WEBHOOK_SECRET": "short"}, "webhook_secret"},
		{[]string{"--webhook-url", "https://hooks.example.com/in", "--webhook-secret", "0123456789abcdef", "--webhook-retry-for", "10m"}, nil, "webhook_retry_for"},
		{nil, map[string]string{"LECTERN_WEBHOOK_MAX_OUTBOX": "lots"}, "webhook_max_outbox"},
		{[]string{"--http-body-timeout", "0s"}, nil, "http_body_timeout"},
		{nil, map[string]string{"LECTERN_HTTP_HEADER_TIMEOUT": "soon"}, "http_header_timeout"},
		{[]string{"--http-idle-timeout", "500ms"}, nil, "http_idle_timeout"},
		{[]string{"--rtsp-read-timeout", "20s", "--rtsp-idle-timeout", "10s"}, nil, "rtsp_idle_timeout"},
		{[]string{"--ws-ping-interval", "0s"}, nil, "ws_ping_interval"},
		{[]string{"--key-failures-per-addr", "none"}, nil, "key_failures_per_addr"},
		{[]string{"--key-failures-per-addr", "0"}, nil, "key_failures_per_addr"},
		{[]string{"--join-failures-per-addr", "0"}, nil, "join_failures_per_addr"},
		{nil, map[string]string{"LECTERN_JOIN_FAILURES_PER_ROOM": "many"}, "join_failures_per_room"},
		{[]string{"--flood-pin-checks-per-second", "0"}, nil, "flood_pin_checks_per_second"},
		{[]string{"--joins-per-addr", "-1"}, nil, "joins_per_addr"},
		{nil, map[string]string{"LECTERN_EMBED_ORIGINS": "https://ok.example,school.example"}, "embed_origins"},
		{[]string{"--attendance-retention", "1h"}, nil, "attendance_retention"},
		{nil, map[string]string{"LECTERN_ATTENDANCE_RETENTION": "a year"}, "attendance_retention"},
		{[]string{"--attendance-session-gap", "-1s"}, nil, "attendance_session_gap"},
		{[]string{"--usage-viewer-idle", "10ms"}, nil, "usage_viewer_idle"},
		{[]string{"--usage-flush-interval", "1ms"}, nil, "usage_flush_interval"},
	}
	for _, tc := range cases {
		_, err := loadConfig(tc.args, envOf(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%v %v: error %v, want one naming %s", tc.args, tc.env, err, tc.key)
		}
	}
}

// TestComposeUsesKnownSettings keeps docker-compose.yml wired to real settings:
// every LECTERN_* variable it sets must be one the server reads, with a valid value.
func TestComposeUsesKnownSettings(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	env := compose.Services["lectern"].Environment
	if len(env) == 0 {
		t.Fatal("no lectern service environment")
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.env] = true
	}
	for k := range env {
		if !known[k] {
			t.Errorf("docker-compose.yml sets %s, which lectern does not read", k)
		}
	}
	c, err := loadConfig(nil, envOf(env), io.Discard)
	if err != nil {
		t.Fatalf("compose settings do not validate: %v", err)
	}
	if c.DatabaseURL == "" || c.S3.Endpoint == "" {
		t.Errorf("compose does not wire PostgreSQL and MinIO: %+v", c)
	}
}

func TestDebugServerServesProfiles(t *testing.T) {
	stop, err := serveDebug("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := serveDebug("nonsense", slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "debug_addr") {
		t.Errorf("bad address: %v", err)
	}
}
