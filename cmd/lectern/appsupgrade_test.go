package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// TestUpgradeToAppsKeepsEverything runs the server on a database made by
// the release before apps (migrations 1-9, rows in their shape): the server
// migrates it, prints no new admin key, and the old admin key, room URLs,
// PIN, stream key and chat keep working, all in the app "default".
func TestUpgradeToAppsKeepsEverything(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		const oldKey = "lk_the-admin-key-of-the-previous-release"
		oldStreamKey := "sk_" + strings.Repeat("ab", 16)
		sum := sha256.Sum256([]byte(oldKey))
		db, err := storage.Open(t.Context(), b.DatabaseURL, b.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		hashLit := `X'` + hex.EncodeToString(sum[:]) + `'`
		if b.Name == "postgres" {
			hashLit = `'\x` + hex.EncodeToString(sum[:]) + `'::bytea`
		}
		err = storage.ResetSchemaTo(t.Context(), db, 9,
			`INSERT INTO rooms (id, name, mode, tier, pin, speaker_pin, broadcast_hls, broadcast_record, created_at, updated_at)
				VALUES ('standup', 'Standup', 'conference', 'hd', '12345678', '1234567890', TRUE, FALSE, 1, 1)`,
			`INSERT INTO members (room_id, identity, name, permissions, tier, created_at, updated_at)
				VALUES ('standup', 'alice', 'Alice', 'publish,subscribe,send,receive,moderate', '', 1, 1)`,
			`INSERT INTO api_keys (id, name, hash, created_at) VALUES ('k1', 'admin (generated)', `+hashLit+`, 1)`,
			`INSERT INTO stream_keys (room_id, stream_key, created_at) VALUES ('standup', '`+oldStreamKey+`', 1)`,
		)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}

		url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": b.DataDir, "LECTERN_DATABASE_URL": b.DatabaseURL})
		defer stop()
		if keyLine.MatchString(banner) {
			t.Errorf("the upgraded server printed a new admin key:\n%s", banner)
		}
		rtspBase := rtspLine.FindStringSubmatch(banner)[1]
		c := appsClient{t: t, url: url}

		r := c.must(200, "GET", "/api/v1/rooms/standup", oldKey, "")
		if r["id"] != "standup" || r["app"] != "default" || r["pin"] != "12345678" {
			t.Errorf("the old room after the upgrade: %v", r)
		}
		if m := c.must(200, "GET", "/api/v1/rooms/standup/members/alice", oldKey, ""); m["name"] != "Alice" {
			t.Errorf("the old member after the upgrade: %v", m)
		}
		apps := c.must(200, "GET", "/api/v1/apps", oldKey, "")["apps"].([]any)
		if len(apps) != 1 || apps[0].(map[string]any)["id"] != "default" {
			t.Errorf("apps after the upgrade: %v; want the default app only", apps)
		}
		if own := c.must(200, "GET", "/api/v1/app", oldKey, ""); own["operator"] != true {
			t.Errorf("the old admin key is not the operator key: %v", own)
		}
		tok, _ := c.must(201, "POST", "/api/v1/tokens", oldKey, `{"identity":"alice","rooms":{"standup":{}}}`)["token"].(string)
		c.must(201, "POST", "/api/v1/rooms/standup/messages", tok, `{"text":"x"}`)
		if payload := strings.Split(tok, ".")[1]; strings.Contains(decodeSegment(t, payload), `"app"`) {
			t.Errorf("a token of the default app carries an app claim: %s", decodeSegment(t, payload))
		}
		if got, _, m := c.do("POST", "/api/v1/rooms/standup/join", "", "application/json", `{"pin":"12345678","name":"Guest"}`); got != 200 {
			t.Errorf("PIN join of the old room: %d %v", got, m)
		}
		if got, _, m := c.do("GET", "/api/v1/rooms/standup/messages", tok, "", ""); got != 200 || len(m["messages"].([]any)) != 1 {
			t.Errorf("chat of the old room with a new token: %d %v", got, m)
		}
		got, _, m := c.do("POST", "/whip/standup", oldStreamKey, "application/sdp", sfuOffer(t, webrtc.RTPTransceiverDirectionSendonly))
		if got != 201 {
			t.Errorf("WHIP with the old stream key: %d %v", got, m)
		} else {
			c.do("DELETE", m["location"].(string), oldStreamKey, "", "")
		}
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("encoder:"+oldStreamKey))
		if got := rtspAsk(t, rtspBase, "ANNOUNCE", "standup", "", basic, announceSDP); got != 200 {
			t.Errorf("RTSP ANNOUNCE with the old stream key: %d", got)
		}
		if got, code, _ := c.do("GET", "/hls/standup/index.m3u8?token="+tok, "", "", ""); code != "broadcast_offline" {
			t.Errorf("HLS of the old room: %d %s, want broadcast_offline (through the gate, nothing on air)", got, code)
		}
	})
}

func decodeSegment(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
