package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

var regexpTURN = regexp.MustCompile(`TURN:\s+(turn:\S+)`)

var turnEnv = map[string]string{"LECTERN_TURN_PUBLIC_IP": "127.0.0.1",
	"LECTERN_TURN_UDP_ADDR": "127.0.0.1:0", "LECTERN_TURN_TCP_ADDR": "127.0.0.1:0"}

// allocateWith asks the TURN server at a turn: URL for a UDP relay.
func allocateWith(t *testing.T, turnURL, user, pass string) error {
	t.Helper()
	hostPort, _, _ := strings.Cut(strings.TrimPrefix(turnURL, "turn:"), "?")
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: hostPort, STUNServerAddr: hostPort, Conn: conn,
		Username: user, Password: pass, RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relayed, err := c.Allocate()
	if err == nil {
		relayed.Close()
	}
	return err
}

// TestTURNFromConfig turns TURN on with turn_public_ip: the banner names it,
// tokens carry credentials that allocate, and after a restart on the same data
// the credentials minted before still do (the secret is stored).
func TestTURNFromConfig(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"LECTERN_DATA_DIR": dir}
	for k, v := range turnEnv {
		env[k] = v
	}
	base, banner, stop := server(t, env)
	if !strings.Contains(banner, "TURN:      turn:127.0.0.1:") {
		t.Errorf("banner does not name the TURN server:\n%s", banner)
	}
	key := keyLine.FindStringSubmatch(banner)[1]
	if code, _ := call(t, "POST", base+"/api/v1/rooms", key, `{"id":"r","name":"R"}`); code != 201 {
		t.Fatalf("create room: %d", code)
	}
	code, tok := call(t, "POST", base+"/api/v1/tokens", key, `{"identity":"ann","rooms":{"r":{}}}`)
	servers, _ := tok["ice_servers"].([]any)
	if code != 201 || len(servers) != 2 {
		t.Fatalf("tokens: %d %v", code, tok)
	}
	entry := servers[1].(map[string]any)
	user, _ := entry["username"].(string)
	pass, _ := entry["credential"].(string)
	urls, _ := entry["urls"].([]any)
	if len(urls) != 2 || !strings.HasSuffix(user, ":ann") {
		t.Fatalf("TURN entry %v", entry)
	}
	if err := allocateWith(t, urls[0].(string), user, pass); err != nil {
		t.Fatalf("allocate with the handed-out credential: %v", err)
	}
	if err := allocateWith(t, urls[0].(string), user, pass+"x"); err == nil {
		t.Error("allocation with a wrong password succeeded")
	}
	stop()

	_, banner, stop = server(t, env)
	defer stop()
	m := regexpTURN.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no TURN URL after restart:\n%s", banner)
	}
	if err := allocateWith(t, m[1], user, pass); err != nil {
		t.Errorf("credential from before the restart: %v", err)
	}
}

// TestTURNOffByDefault: a newcomer's server has no TURN and hands out no ICE servers.
func TestTURNOffByDefault(t *testing.T) {
	base, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir()})
	defer stop()
	if strings.Contains(banner, "TURN:") {
		t.Errorf("TURN in a default banner:\n%s", banner)
	}
	key := keyLine.FindStringSubmatch(banner)[1]
	call(t, "POST", base+"/api/v1/rooms", key, `{"id":"r","name":"R"}`)
	if _, tok := call(t, "POST", base+"/api/v1/tokens", key, `{"identity":"ann","rooms":{"r":{}}}`); tok["ice_servers"] == nil || len(tok["ice_servers"].([]any)) != 0 {
		t.Errorf("ice_servers = %v, want []", tok["ice_servers"])
	}
}

// TestTURNAndACMEConfigErrors: bad TURN and ACME settings fail at start, naming the key.
func TestTURNAndACMEConfigErrors(t *testing.T) {
	cases := []struct {
		env map[string]string
		key string
	}{
		{map[string]string{"LECTERN_TURN_PUBLIC_IP": "turn.example.com"}, "turn_public_ip"},
		{map[string]string{"LECTERN_TURN_PUBLIC_IP": "0.0.0.0"}, "turn_public_ip"},
		{map[string]string{"LECTERN_TURN_PUBLIC_IP": "203.0.113.7", "LECTERN_TURN_UDP_ADDR": "3478"}, "turn_udp_addr"},
		{map[string]string{"LECTERN_TURN_PUBLIC_IP": "203.0.113.7", "LECTERN_TURN_TLS_ADDR": "x"}, "turn_tls_addr"},
		{map[string]string{"LECTERN_TURN_PUBLIC_IP": "203.0.113.7", "LECTERN_TURN_UDP_ADDR": "off", "LECTERN_TURN_TCP_ADDR": "off"}, "turn_udp_addr, turn_tcp_addr"},
		{map[string]string{"LECTERN_TURN_PUBLIC_IP": "203.0.113.7", "LECTERN_TURN_RELAY_PORTS": "60000-50000"}, "turn_relay_ports"},
		{map[string]string{"LECTERN_ACME_HOST": "localhost"}, "acme_host"},
		{map[string]string{"LECTERN_ACME_HOST": "203.0.113.7"}, "acme_host"},
		{map[string]string{"LECTERN_ACME_HOST": "intranet"}, "acme_host"},
		{map[string]string{"LECTERN_ACME_HOST": "live.example.com", "LECTERN_TLS_CERT": "c.pem", "LECTERN_TLS_KEY": "k.pem"}, "acme_host, tls_cert"},
		{map[string]string{"LECTERN_ACME_HOST": "live.example.com", "LECTERN_ACME_EMAIL": "not mail"}, "acme_email"},
		{map[string]string{"LECTERN_ACME_EMAIL": "ops@example.com"}, "acme_email"},
		{map[string]string{"LECTERN_ACME_HOST": "live.example.com", "LECTERN_ACME_HTTP_ADDR": "80"}, "acme_http_addr"},
	}
	for _, tc := range cases {
		_, err := loadConfig(nil, envOf(tc.env), io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
			t.Errorf("%v: err = %v, want one naming %s", tc.env, err, tc.key)
		}
	}
	good := map[string]string{"LECTERN_TURN_PUBLIC_IP": "203.0.113.7", "LECTERN_TURN_TCP_ADDR": "off",
		"LECTERN_TURN_RELAY_PORTS": "49152-65535", "LECTERN_ACME_HOST": "live.example.com", "LECTERN_ACME_EMAIL": "ops@example.com"}
	if c, err := loadConfig(nil, envOf(good), io.Discard); err != nil || c.TURN.UDPAddr != ":3478" || listenAddr(c.TURN.TCPAddr) != "" {
		t.Errorf("good TURN and ACME settings: %+v, %v", c.TURN, err)
	}
	path := filepath.Join(t.TempDir(), "lectern.yaml")
	os.WriteFile(path, []byte("turn_public_ip: 203.0.113.7\nturn_tcp_addr: off\nturn_relay_ports: 50000-50999\nacme_host: live.example.com\nacme_http_addr: \":8080\"\n"), 0o600)
	if c, err := loadConfig([]string{"--config", path}, envOf(nil), io.Discard); err != nil || c.TURN.PublicIP != "203.0.113.7" ||
		listenAddr(c.TURN.TCPAddr) != "" || c.TURN.RelayPorts != "50000-50999" || c.ACME.Host != "live.example.com" || c.ACME.HTTPAddr != ":8080" {
		t.Errorf("TURN and ACME from YAML: %+v %+v, %v", c.TURN, c.ACME, err)
	}
}
