package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"lectern/api"
	"lectern/ingest"
	"lectern/sfu"
)

// config is everything the server can be told. The YAML keys, LECTERN_*
// environment variables and flags are public names (README, "Configuration").
type config struct {
	HTTPAddr        string        `yaml:"http_addr"`
	RTSPAddr        string        `yaml:"rtsp_addr"`
	RTSPUDPPort     int           `yaml:"rtsp_udp_port"`
	WebRTCUDPPort   int           `yaml:"webrtc_udp_port"`
	WebRTCListenIP  string        `yaml:"webrtc_listen_ip"`
	WebRTCPublicIPs []string      `yaml:"webrtc_public_ips"`
	WebRTCLoopback  bool          `yaml:"webrtc_loopback"`
	DataDir         string        `yaml:"data_dir"`
	DatabaseURL     string        `yaml:"database_url"`
	AdminKey        string        `yaml:"admin_key"`
	PublicURL       string        `yaml:"public_url"`
	TLSCert         string        `yaml:"tls_cert"`
	TLSKey          string        `yaml:"tls_key"`
	TrustedProxies  []string      `yaml:"trusted_proxies"`
	TokenTTL        time.Duration `yaml:"token_ttl"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	LogLevel        string        `yaml:"log_level"`
	DebugAddr       string        `yaml:"debug_addr"`
	S3              s3Config      `yaml:",inline"`
	TURN            turnConfig    `yaml:",inline"`
	ACME            acmeConfig    `yaml:",inline"`
	Cluster         clusterConfig `yaml:",inline"`
	Webhook         webhookConfig `yaml:",inline"`
	Edge            edgeConfig    `yaml:",inline"`
	PINs            pinConfig     `yaml:",inline"`
	Caps            capsConfig    `yaml:",inline"`
	Stage           stageConfig   `yaml:",inline"`
	Usage           usageConfig   `yaml:",inline"`

	// HLSPartDuration and HLSSegmentDuration shape LL-HLS (hls.Config).
	HLSPartDuration    time.Duration `yaml:"hls_part_duration"`
	HLSSegmentDuration time.Duration `yaml:"hls_segment_duration"`
	// HLSCDNURL publishes HLS media to the S3 bucket and names them at this
	// base URL (empty: the origin serves them from memory).
	HLSCDNURL string `yaml:"hls_cdn_url"`
}

// s3Config names the object store for recordings. Empty endpoint: recordings stay
// in the data directory.
type s3Config struct {
	Endpoint  string `yaml:"s3_endpoint"`
	Bucket    string `yaml:"s3_bucket"`
	AccessKey string `yaml:"s3_access_key"`
	SecretKey string `yaml:"s3_secret_key"`
	UseSSL    bool   `yaml:"s3_use_ssl"`
	PublicURL string `yaml:"s3_public_url"`
}

func defaultConfig() config {
	return config{
		HTTPAddr:        ":8080",
		RTSPAddr:        ":8554",
		RTSPUDPPort:     8000,
		WebRTCUDPPort:   7881,
		WebRTCLoopback:  true,
		DataDir:         "./data",
		TokenTTL:        6 * time.Hour,
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        "info",
		TURN:            defaultTURNConfig(),
		ACME:            defaultACMEConfig(),
		Cluster:         defaultClusterConfig(),
		Webhook:         defaultWebhookConfig(),
		Edge:            defaultEdgeConfig(),
		PINs:            defaultPINConfig(),
		Caps:            defaultCapsConfig(),
		Stage:           defaultStageConfig(),
		Usage:           defaultUsageConfig(),

		HLSPartDuration:    200 * time.Millisecond,
		HLSSegmentDuration: time.Second,
	}
}

// setting binds one configuration key to its environment variable and flag.
type setting struct {
	key, env, flag, usage string
	set                   func(c *config, v string) error
}

func str(f func(c *config) *string) func(*config, string) error {
	return func(c *config, v string) error { *f(c) = v; return nil }
}

var settings = []setting{
	{"http_addr", "LECTERN_HTTP_ADDR", "http", "HTTP listen address (API, pages, HLS, WHIP/WHEP)", str(func(c *config) *string { return &c.HTTPAddr })},
	{"rtsp_addr", "LECTERN_RTSP_ADDR", "rtsp", "RTSP listen address", str(func(c *config) *string { return &c.RTSPAddr })},
	{"rtsp_udp_port", "LECTERN_RTSP_UDP_PORT", "rtsp-udp-port", "even UDP port for RTSP's RTP (RTCP on the next); 0 = TCP only", func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a port number", v)
		}
		c.RTSPUDPPort = n
		return nil
	}},
	{"webrtc_udp_port", "LECTERN_WEBRTC_UDP_PORT", "webrtc-udp-port", "UDP port for all WebRTC media (ICE UDP mux)", func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a port number", v)
		}
		c.WebRTCUDPPort = n
		return nil
	}},
	{"webrtc_listen_ip", "LECTERN_WEBRTC_LISTEN_IP", "webrtc-listen-ip", "IP address WebRTC media binds to (empty: all interfaces)", str(func(c *config) *string { return &c.WebRTCListenIP })},
	{"webrtc_public_ips", "LECTERN_WEBRTC_PUBLIC_IPS", "webrtc-public-ips", "comma-separated public IPs announced for WebRTC (1:1 NAT)", func(c *config, v string) error {
		c.WebRTCPublicIPs = splitList(v)
		return nil
	}},
	{"webrtc_loopback", "LECTERN_WEBRTC_LOOPBACK", "webrtc-loopback", "also offer loopback ICE candidates (same-host clients; default true)", func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		c.WebRTCLoopback = b
		return nil
	}},
	{"data_dir", "LECTERN_DATA_DIR", "data-dir", "directory for the SQLite file and recordings", str(func(c *config) *string { return &c.DataDir })},
	{"database_url", "LECTERN_DATABASE_URL", "database-url", "PostgreSQL URL (empty: SQLite in the data dir)", str(func(c *config) *string { return &c.DatabaseURL })},
	{"admin_key", "LECTERN_ADMIN_KEY", "admin-key", "admin API key (empty: generated on first start)", str(func(c *config) *string { return &c.AdminKey })},
	{"public_url", "LECTERN_PUBLIC_URL", "public-url", "externally reachable base URL (empty: derived from the listen address)", str(func(c *config) *string { return &c.PublicURL })},
	{"tls_cert", "LECTERN_TLS_CERT", "tls-cert", "TLS certificate file (PEM); serves HTTPS with tls_key", str(func(c *config) *string { return &c.TLSCert })},
	{"tls_key", "LECTERN_TLS_KEY", "tls-key", "TLS private key file (PEM)", str(func(c *config) *string { return &c.TLSKey })},
	{"trusted_proxies", "LECTERN_TRUSTED_PROXIES", "trusted-proxies", "comma-separated proxy CIDRs whose X-Forwarded-For is believed", func(c *config, v string) error {
		c.TrustedProxies = splitList(v)
		return nil
	}},
	{"token_ttl", "LECTERN_TOKEN_TTL", "token-ttl", "lifetime of access tokens from join", duration(func(c *config) *time.Duration { return &c.TokenTTL })},
	{"hls_part_duration", "LECTERN_HLS_PART_DURATION", "hls-part-duration", "LL-HLS part target (100ms to 1s)", duration(func(c *config) *time.Duration { return &c.HLSPartDuration })},
	{"hls_segment_duration", "LECTERN_HLS_SEGMENT_DURATION", "hls-segment-duration", "LL-HLS segment length aimed at (1s to 2s is usual)", duration(func(c *config) *time.Duration { return &c.HLSSegmentDuration })},
	{"hls_cdn_url", "LECTERN_HLS_CDN_URL", "hls-cdn-url", "base URL of a CDN (or the bucket) in front of the S3 bucket root: HLS media go to the bucket under hls/ (empty: served by Lectern)", str(func(c *config) *string { return &c.HLSCDNURL })},
	{"shutdown_timeout", "LECTERN_SHUTDOWN_TIMEOUT", "shutdown-timeout", "how long shutdown waits for requests to finish", duration(func(c *config) *time.Duration { return &c.ShutdownTimeout })},
	{"log_level", "LECTERN_LOG_LEVEL", "log-level", "debug, info, warn or error", str(func(c *config) *string { return &c.LogLevel })},
	{"debug_addr", "LECTERN_DEBUG_ADDR", "debug-addr", "address for Go profiling (net/http/pprof); empty = off; keep it on loopback", str(func(c *config) *string { return &c.DebugAddr })},
	{"s3_endpoint", "LECTERN_S3_ENDPOINT", "s3-endpoint", "MinIO/S3 endpoint host:port for recordings (empty: data dir)", str(func(c *config) *string { return &c.S3.Endpoint })},
	{"s3_bucket", "LECTERN_S3_BUCKET", "s3-bucket", "MinIO/S3 bucket for recordings", str(func(c *config) *string { return &c.S3.Bucket })},
	{"s3_public_url", "LECTERN_S3_PUBLIC_URL", "s3-public-url", "where browsers reach MinIO/S3 when not at s3_endpoint, such as http://localhost:9000 (presigned URLs name it)", str(func(c *config) *string { return &c.S3.PublicURL })},
	{"s3_access_key", "LECTERN_S3_ACCESS_KEY", "s3-access-key", "MinIO/S3 access key", str(func(c *config) *string { return &c.S3.AccessKey })},
	{"s3_secret_key", "LECTERN_S3_SECRET_KEY", "s3-secret-key", "MinIO/S3 secret key", str(func(c *config) *string { return &c.S3.SecretKey })},
	{"s3_use_ssl", "LECTERN_S3_USE_SSL", "s3-use-ssl", "use HTTPS to reach MinIO/S3 (true or false)", func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		c.S3.UseSSL = b
		return nil
	}},
}

// splitList splits a comma-separated value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func duration(f func(c *config) *time.Duration) func(*config, string) error {
	return func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 90s or 6h", v)
		}
		*f(c) = d
		return nil
	}
}

// loadConfig builds the configuration: defaults, then the YAML file named by
// --config or LECTERN_CONFIG, then LECTERN_* variables, then flags. Errors name the key.
func loadConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	fs := flag.NewFlagSet("lectern", flag.ContinueOnError)
	fs.SetOutput(usage)
	configPath := fs.String("config", getenv("LECTERN_CONFIG"), "YAML configuration file (unknown keys are errors)")
	flagValues := make(map[string]*string, len(settings))
	for _, s := range settings {
		flagValues[s.flag] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c := defaultConfig()
	if *configPath != "" {
		if err := c.readYAML(*configPath); err != nil {
			return config{}, err
		}
	}
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			if err := s.set(&c, v); err != nil {
				return config{}, fmt.Errorf("%s (%s): %w", s.key, s.env, err)
			}
		}
	}
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.flag == f.Name && flagErr == nil {
				if err := s.set(&c, *flagValues[s.flag]); err != nil {
					flagErr = fmt.Errorf("%s (--%s): %w", s.key, s.flag, err)
				}
			}
		}
	})
	if flagErr != nil {
		return config{}, flagErr
	}
	return c, c.validate()
}

func (c *config) readYAML(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// validate reports the first invalid value, naming its key.
func (c config) validate() error {
	for key, addr := range map[string]string{"http_addr": c.HTTPAddr, "rtsp_addr": c.RTSPAddr} {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return fmt.Errorf("%s: %q is not host:port (for example :8080)", key, addr)
		}
	}
	switch {
	case c.DataDir == "":
		return errors.New("data_dir: must not be empty")
	case c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		return errors.New("database_url: must start with postgres:// or postgresql:// (or be empty for SQLite)")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("tls_cert, tls_key: give both or neither")
	case c.ShutdownTimeout <= 0:
		return errors.New("shutdown_timeout: must be positive")
	case c.S3.Endpoint != "" && (c.S3.Bucket == "" || c.S3.AccessKey == "" || c.S3.SecretKey == ""):
		return errors.New("s3_bucket, s3_access_key, s3_secret_key: required with s3_endpoint")
	case strings.Contains(c.S3.Endpoint, "/"):
		return fmt.Errorf("s3_endpoint: %q must be host:port, without a scheme or path (use s3_use_ssl for HTTPS)", c.S3.Endpoint)
	case c.S3.PublicURL != "" && !validPublicURL(c.S3.PublicURL):
		return fmt.Errorf("s3_public_url: %q must be http(s)://host[:port]", c.S3.PublicURL)
	case c.HLSCDNURL != "" && c.S3.Endpoint == "":
		return errors.New("hls_cdn_url: needs s3_endpoint (the media are published to the S3 bucket)")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("public_url: %q is not an http(s) URL", c.PublicURL)
		}
	}
	// The packages validate their own keys; checking here too fails at load,
	// before anything opens.
	if err := c.Edge.validate(); err != nil {
		return err
	}
	if err := c.sfuConfig().Validate(); err != nil {
		return err
	}
	if err := c.ingestConfig().Validate(); err != nil {
		return err
	}
	if err := c.apiConfig().Validate(); err != nil {
		return err
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if err := c.TURN.validate(); err != nil {
		return err
	}
	if err := c.Cluster.validate(c.DatabaseURL); err != nil {
		return err
	}
	if err := c.Webhook.validate(); err != nil {
		return err
	}
	if err := c.Usage.validate(); err != nil {
		return err
	}
	return c.ACME.validate(c)
}

// sfuConfig is the media side's part of the configuration.
func (c config) sfuConfig() sfu.Config {
	return sfu.Config{UDPPort: c.WebRTCUDPPort, ListenIP: c.WebRTCListenIP, PublicIPs: c.WebRTCPublicIPs, Loopback: c.WebRTCLoopback}
}

// apiConfig is the API's part of the configuration; the public, RTSP and
// ICE server addresses are added once the process listens.
func (c config) apiConfig() api.Config {
	a := api.DefaultConfig()
	a.TokenTTL = c.TokenTTL
	a.MaxTokenTTL = max(a.MaxTokenTTL, c.TokenTTL)
	a.TrustedProxies = c.TrustedProxies
	a.PublicURL = c.PublicURL
	a.BodyTimeout = c.Edge.HTTPBody
	a.PingInterval = c.Edge.WSPing
	a.EmbedOrigins = c.Edge.EmbedOrigins
	a.KeyFailuresPerAddr = c.Edge.KeyFailures
	a.JoinFailuresPerAddr, a.JoinFailuresPerRoom = c.PINs.FailuresPerAddr, c.PINs.FailuresPerRoom
	a.FloodPINChecksPerSecond, a.JoinsPerAddr = c.PINs.FloodChecksPerSecond, c.PINs.JoinsPerAddr
	a.Caps = c.Caps.caps()
	a.Stage = c.Stage.stage()
	a.WebhookURL = c.Webhook.URL
	return a
}

// ingestConfig is the RTSP server's part of the configuration.
func (c config) ingestConfig() ingest.Config {
	return ingest.Config{Addr: c.RTSPAddr, UDPPort: c.RTSPUDPPort, ReadTimeout: c.Edge.RTSPRead, IdleTimeout: c.Edge.RTSPIdle}
}

// validPublicURL reports whether u is http(s)://host[:port] and nothing more.
func validPublicURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" &&
		(p.Path == "" || p.Path == "/") && p.RawQuery == "" && p.User == nil
}
