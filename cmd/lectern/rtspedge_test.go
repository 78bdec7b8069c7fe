package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"lectern/hls/hlstest"
)

// TestRTSPMediaOutlivesIdleTimeout checks that the RTSP timeouts cut idle
// connections only: an encoder and a player over TCP and over UDP (whose
// RTSP connection is silent while media flows) run for longer than
// rtsp_idle_timeout and end cleanly.
func TestRTSPMediaOutlivesIdleTimeout(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir(), "LECTERN_RTSP_UDP_PORT": freeUDPPair(t),
		"LECTERN_RTSP_READ_TIMEOUT": "3s", "LECTERN_RTSP_IDLE_TIMEOUT": "3s"})
	defer stop()
	key := keyLine.FindStringSubmatch(banner)[1]
	rtspBase := rtspLine.FindStringSubmatch(banner)[1]
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			room := "edge-" + transport
			if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"`+room+`","name":"Edge"}`); code != 201 {
				t.Fatalf("create room: %d", code)
			}
			_, sk := call(t, "POST", url+"/api/v1/rooms/"+room+"/stream-key", key, "")
			_, tok := call(t, "POST", url+"/api/v1/tokens", key, `{"identity":"v","rooms":{"`+room+`":{"preset":"viewer"}}}`)
			target := strings.Replace(rtspBase, "rtsp://", "rtsp://encoder:"+sk["stream_key"].(string)+"@", 1) + "/" + room
			var wg sync.WaitGroup
			var pubErr error
			var pubOut []byte
			wg.Go(func() {
				pubOut, pubErr = exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=15",
					"-t", "9", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p",
					"-f", "rtsp", "-rtsp_transport", transport, target).CombinedOutput()
			})
			// The player starts once the encoder is on; it reads for 5 s.
			var readOut []byte
			var readErr error
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				readOut, readErr = exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", transport,
					"-i", rtspBase+"/"+room+"?token="+tok["token"].(string), "-t", "5", "-f", "null", "-").CombinedOutput()
				if readErr == nil || !strings.Contains(string(readOut), "404") {
					break
				}
				time.Sleep(200 * time.Millisecond) // the encoder is not on yet
			}
			wg.Wait()
			if pubErr != nil {
				t.Errorf("encoder over %s for 9 s (idle timeout 3 s): %v\n%s", transport, pubErr, pubOut)
			}
			if readErr != nil {
				t.Errorf("player over %s for 5 s (idle timeout 3 s): %v\n%s", transport, readErr, readOut)
			}
		})
	}
}

// freeUDPPair returns an even UDP port whose next port is free too (RTP, RTCP).
func freeUDPPair(t *testing.T) string {
	t.Helper()
	for range 50 {
		port := 20000 + 2*rand.IntN(20000)
		a, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return fmt.Sprint(port)
	}
	t.Fatal("no free UDP port pair")
	return ""
}

// TestRTSPStreamKeyGuessesThrottled sends wrong stream keys over RTSP until
// the address is past key_failures_per_addr: its next RTSP connection is
// closed at once, and WHIP refuses its stream keys too (the count is shared).
func TestRTSPStreamKeyGuessesThrottled(t *testing.T) {
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir(), "LECTERN_KEY_FAILURES_PER_ADDR": "3"})
	defer stop()
	key := keyLine.FindStringSubmatch(banner)[1]
	addr := strings.TrimPrefix(rtspLine.FindStringSubmatch(banner)[1], "rtsp://")
	if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"guess","name":"Guess"}`); code != 201 {
		t.Fatalf("create room: %d", code)
	}
	call(t, "POST", url+"/api/v1/rooms/guess/stream-key", key, "")
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n"
	announce := func(guess string) string {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		auth := base64.StdEncoding.EncodeToString([]byte("encoder:" + guess))
		fmt.Fprintf(conn, "ANNOUNCE rtsp://%s/guess RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Basic %s\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
			addr, auth, len(sdp), sdp)
		line, _ := bufio.NewReader(conn).ReadString('\n')
		return strings.TrimSpace(line)
	}
	for i := range 3 {
		if got := announce(fmt.Sprintf("sk_guess%d", i)); !strings.HasPrefix(got, "RTSP/1.0 401") {
			t.Fatalf("wrong key %d: %q, want 401", i+1, got)
		}
	}
	if got := announce("sk_guess-again"); got != "" {
		t.Errorf("after 3 wrong keys the connection answered %q, want it closed", got)
	}
	if code, _ := call(t, "POST", url+"/whip/guess", "sk_guess-over-whip", "v=0"); code != 429 {
		t.Errorf("WHIP with a stream key after 3 wrong RTSP keys: %d, want 429", code)
	}
}
