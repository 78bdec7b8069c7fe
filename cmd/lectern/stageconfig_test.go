package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lectern/rooms"
)

// TestStageConfig sets the stage's keys from the YAML file and the
// environment, and checks the API gets them; a value out of range is an
// error naming its key.
func TestStageConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lectern.yaml")
	if err := os.WriteFile(path, []byte("stage_max_guests: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig([]string{"--config", path}, envOf(map[string]string{"LECTERN_STAGE_INVITE_TTL": "90s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.apiConfig().Stage; got.MaxGuests != 2 || got.InviteTTL != 90*time.Second || got.GuestTTL != rooms.DefaultStageConfig().GuestTTL {
		t.Errorf("stage = %+v", got)
	}
	d, err := loadConfig(nil, envOf(nil), io.Discard)
	if err != nil || d.apiConfig().Stage != rooms.DefaultStageConfig() {
		t.Errorf("default stage = %+v, %v", d.apiConfig().Stage, err)
	}
	for _, args := range [][]string{
		{"--stage-max-guests", "0"}, {"--stage-max-guests", "some"}, {"--stage-invite-ttl", "1s"}, {"--stage-invite-ttl", "1h"},
	} {
		key := strings.ReplaceAll(strings.TrimPrefix(args[0], "--"), "-", "_")
		if _, err := loadConfig(args, envOf(nil), io.Discard); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v: error %v, want one naming %s", args, err, key)
		}
	}
}
