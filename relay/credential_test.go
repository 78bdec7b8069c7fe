package relay

import (
	"strings"
	"testing"
	"time"
)

var usernameCases = []struct {
	username string
	ok       bool
	identity string
}{
	{"1893456000:alice", true, "alice"},
	{"1893456000:guest-1:with:colons", true, "guest-1:with:colons"},
	{"1893456000:", false, ""},
	{"alice", false, ""},
	{":alice", false, ""},
	{"-5:alice", false, ""},
	{"99999999999999999999:alice", false, ""},
	{"", false, ""},
}

func TestParseUsername(t *testing.T) {
	for _, tc := range usernameCases {
		_, identity, ok := parseUsername(tc.username)
		if ok != tc.ok || identity != tc.identity {
			t.Errorf("parseUsername(%q) = %q, %v; want %q, %v", tc.username, identity, ok, tc.identity, tc.ok)
		}
	}
	until := time.Unix(1893456000, 0)
	user, pass := Credential(testSecret, "alice", until)
	got, identity, ok := parseUsername(user)
	if !ok || !got.Equal(until) || identity != "alice" || pass != credentialPassword(testSecret, user) {
		t.Errorf("Credential round trip: %q %v %q %v", user, got, identity, ok)
	}
	if _, other := Credential([]byte("another secret, just as long...."), "alice", until); other == pass {
		t.Error("two secrets give the same password")
	}
}

// FuzzParseUsername: usernames come from anyone who can reach the TURN port.
func FuzzParseUsername(f *testing.F) {
	for _, tc := range usernameCases {
		f.Add(tc.username)
	}
	f.Fuzz(func(t *testing.T, username string) {
		until, identity, ok := parseUsername(username)
		if !ok {
			return
		}
		if identity == "" || !strings.HasSuffix(username, ":"+identity) || until.Unix() <= 0 {
			t.Errorf("parseUsername(%q) = %v, %q", username, until, identity)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		cfg Config
		key string // "" = valid
	}{
		{Config{UDPAddr: ":3478", PublicIP: "203.0.113.7"}, ""},
		{Config{TCPAddr: ":3478", PublicIP: "2001:db8::1", RelayPorts: "49152-65535"}, ""},
		{Config{UDPAddr: ":3478"}, "turn_public_ip"},
		{Config{UDPAddr: ":3478", PublicIP: "::"}, "turn_public_ip"},
		{Config{PublicIP: "203.0.113.7"}, "turn_udp_addr, turn_tcp_addr"},
		{Config{UDPAddr: "3478", PublicIP: "203.0.113.7"}, "turn_udp_addr"},
		{Config{UDPAddr: ":3478", TLSAddr: "x", TLS: nil, PublicIP: "203.0.113.7"}, ""},
		{Config{UDPAddr: ":3478", PublicIP: "203.0.113.7", RelayPorts: "0-10"}, "turn_relay_ports"},
		{Config{UDPAddr: ":3478", PublicIP: "203.0.113.7", RelayPorts: "5000"}, "turn_relay_ports"},
		{Config{UDPAddr: ":3478", PublicIP: "203.0.113.7", RelayPorts: "6000-5000"}, "turn_relay_ports"},
		{Config{UDPAddr: ":3478", PublicIP: "203.0.113.7", RelayPorts: "5000-70000"}, "turn_relay_ports"},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if tc.key == "" && err != nil || tc.key != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.key+":")) {
			t.Errorf("%+v: %v, want key %q", tc.cfg, err, tc.key)
		}
	}
}
