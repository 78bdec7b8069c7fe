package main

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"
)

// rtspStatus sends one RTSP request with the token in the query on a new
// connection and returns the status code of the answer.
func rtspStatus(t *testing.T, base, method, room, token, body string) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	target := base + "/" + room + "?token=" + url.QueryEscape(token)
	req := method + " " + target + " RTSP/1.0\r\nCSeq: 1\r\n"
	if body != "" {
		req += fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n", len(body))
	}
	if _, err := conn.Write([]byte(req + "\r\n" + body)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	var code int
	if _, err := fmt.Sscanf(line, "RTSP/1.0 %d", &code); err != nil {
		t.Fatalf("%s: status line %q", method, line)
	}
	return code
}

// announceSDP is an H.264 stream description for ANNOUNCE.
const announceSDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=Stream\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"

// TestRTSPRefusesRevokedMemberToken: a member's token stops opening RTSP
// DESCRIBE and ANNOUNCE once the member is demoted to no permissions, and
// once it is deleted (issue 16, point 1), through the same room rules as
// the HTTP API.
func TestRTSPRefusesRevokedMemberToken(t *testing.T) {
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir()})
	defer stop()
	key := keyLine.FindStringSubmatch(banner)[1]
	m := rtspLine.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no RTSP URL in the banner:\n%s", banner)
	}
	base := m[1]
	if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"r","name":"R"}`); code != 201 {
		t.Fatalf("create room: %d", code)
	}
	if code, _ := call(t, "POST", url+"/api/v1/rooms/r/members", key, `{"identity":"enc","preset":"host"}`); code != 201 {
		t.Fatalf("create member: %d", code)
	}
	_, tok := call(t, "POST", url+"/api/v1/tokens", key, `{"identity":"enc","rooms":{"r":{}}}`)
	token, _ := tok["token"].(string)

	check := func(when string, describe, announce int) {
		t.Helper()
		// Nothing is published: a token that may read gets 404.
		if got := rtspStatus(t, base, "DESCRIBE", "r", token, ""); got != describe {
			t.Errorf("%s: DESCRIBE answered %d, want %d", when, got, describe)
		}
		if got := rtspStatus(t, base, "ANNOUNCE", "r", token, announceSDP); got != announce {
			t.Errorf("%s: ANNOUNCE answered %d, want %d", when, got, announce)
		}
	}
	check("host", 404, 200)
	if code, _ := call(t, "PATCH", url+"/api/v1/rooms/r/members/enc", key, `{"permissions":[]}`); code != 200 {
		t.Fatalf("demote: %d", code)
	}
	check("after PATCH to no permissions", 403, 403)
	if code, _ := call(t, "DELETE", url+"/api/v1/rooms/r/members/enc", key, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	check("after DELETE", 401, 401)
}
