package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lectern/api"
)

// TestCapsConfig sets each cap from the YAML file, the environment and a
// flag, and checks the API gets them; a cap below 1 or not a number is an
// error naming its key.
func TestCapsConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lectern.yaml")
	if err := os.WriteFile(path, []byte("max_whep_per_room: 9\nmax_whep_per_addr: 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig([]string{"--config", path, "--max-room-participants", "11"},
		envOf(map[string]string{"LECTERN_MAX_SOCKETS_PER_ADDR": "7"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.apiConfig().Caps, (api.Caps{RoomParticipants: 11, SocketsPerAddr: 7, WHEPPerRoom: 9, WHEPPerAddr: 4}); got != want {
		t.Errorf("caps = %+v, want %+v", got, want)
	}
	d, err := loadConfig(nil, envOf(nil), io.Discard)
	if err != nil || d.apiConfig().Caps != api.DefaultCaps() {
		t.Errorf("default caps = %+v, %v", d.apiConfig().Caps, err)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"--max-room-participants", "0"}}, {[]string{"--max-sockets-per-addr", "many"}},
		{[]string{"--max-whep-per-room", "-1"}}, {[]string{"--max-whep-per-addr", "0"}},
	} {
		key := strings.ReplaceAll(strings.TrimPrefix(tc.args[0], "--"), "-", "_")
		if _, err := loadConfig(tc.args, envOf(nil), io.Discard); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, key)
		}
	}
}
