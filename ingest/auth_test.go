package ingest

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// rtspRequest sends one request over a new connection and returns the status
// line and headers of the answer. path is the request URL's path and query.
func rtspRequest(t *testing.T, r *rig, method, path, authorization string) (string, textproto.MIMEHeader) {
	t.Helper()
	addr := r.rtsp.Addr().String()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s rtsp://%s/%s RTSP/1.0\r\nCSeq: 1\r\n", method, addr, path)
	if authorization != "" {
		req += "Authorization: " + authorization + "\r\n"
	}
	if method == "ANNOUNCE" {
		sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
			"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"
		req += fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdp), sdp)
	} else {
		req += "\r\n"
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewReader(bufio.NewReader(conn))
	status, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, h
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestChallengeOffersDigestOnlyWithAStreamKey asks without credentials:
// readers are offered Basic only (no secret of theirs can meet Digest), and
// so are encoders of a room without a stream key; encoders of a room with a
// key are offered Basic and Digest.
func TestChallengeOffersDigestOnlyWithAStreamKey(t *testing.T) {
	r := newRig(t, false)
	for _, c := range []struct {
		method, path string
		want         []string
	}{
		{"DESCRIBE", "live", []string{"Basic"}},
		{"DESCRIBE", "nokey", []string{"Basic"}},
		{"ANNOUNCE", "nokey", []string{"Basic"}},
		{"ANNOUNCE", "nowhere", []string{"Basic"}},
		{"ANNOUNCE", "live", []string{"Basic", "Digest"}},
	} {
		status, h := rtspRequest(t, r, c.method, c.path, "")
		var got []string
		for _, v := range h.Values("WWW-Authenticate") {
			got = append(got, strings.Fields(v)[0])
		}
		if status != "RTSP/1.0 401 Unauthorized" || strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s /%s without credentials: %q offering %v, want 401 offering %v", c.method, c.path, status, got, c.want)
		}
	}
	for _, line := range strings.Split(r.logs.String(), "\n") {
		if containsAll(line, []string{"level=INFO", "refused"}) {
			t.Errorf("a request without credentials (every client's first) was logged at info: %s", line)
		}
	}
}

// TestRefusalsAreLoggedWithoutSecrets makes requests that are refused for
// each reason: every refusal is answered with its status and logged at info
// with the room and the reason, and no token or key reaches the log.
func TestRefusalsAreLoggedWithoutSecrets(t *testing.T) {
	r := newRig(t, false)
	for _, c := range []struct {
		method, path, authorization string
		status, room, reason        string
	}{
		{"DESCRIBE", "live/token/forged.bad.token", "", "401", "live", "credentials not accepted"},
		{"DESCRIBE", "live?token=forged.bad.token", "", "401", "live", "credentials not accepted"},
		{"DESCRIBE", "live", basic("viewer", "forged.bad.token"), "401", "live", "credentials not accepted"},
		{"DESCRIBE", "live/token/publisher-token", "", "403", "live", "enc may not subscribe"},
		{"DESCRIBE", "live?token=viewer-token", "", "404", "live", "nothing is on air"},
		{"DESCRIBE", "live/extra/viewer-token", "", "400", "", "not a room"},
		{"ANNOUNCE", "live", basic("encoder", "sk_wrong"), "401", "live", "wrong stream key"},
		{"ANNOUNCE", "nokey", basic("encoder", "sk_live"), "401", "nokey", "no stream key"},
		{"ANNOUNCE", "nowhere", basic("encoder", "sk_live"), "404", "nowhere", "no such room"},
		{"ANNOUNCE", "live?token=viewer-token", "", "403", "live", "viewer may not publish"},
	} {
		status, _ := rtspRequest(t, r, c.method, c.path, c.authorization)
		if !strings.HasPrefix(status, "RTSP/1.0 "+c.status+" ") {
			t.Errorf("%s /%s: %q, want %s", c.method, c.path, status, c.status)
		}
		want := []string{"level=INFO", `msg="rtsp request refused"`, "method=" + c.method, "room=" + c.room, "status=" + c.status, c.reason}
		found := false
		for _, line := range strings.Split(r.logs.String(), "\n") {
			found = found || containsAll(line, want)
		}
		if !found {
			t.Errorf("%s /%s: no log line with %q in:\n%s", c.method, c.path, want, r.logs)
		}
	}
	for _, secret := range []string{"forged", "publisher-token", "viewer-token", "sk_wrong", "sk_live"} {
		if strings.Contains(r.logs.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, r.logs)
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
