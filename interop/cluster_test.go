package interop

import (
	"bufio"
	"io"
	"lectern/internal/syncbuf"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cluster nodes for the failover tests: each a lectern process of its own,
// from the binary the suite built, on one PostgreSQL database with the
// default heartbeat, so that kill -9 hits a process as it would in
// production.

// clusterKey is the admin key every node of a test's cluster shares.
const clusterKey = "interop-cluster-admin-key"

// node is one cluster node.
type node struct {
	id, URL, RTSP string
	cmd           *exec.Cmd
	log           syncbuf.Buffer
	exited        chan struct{}
}

// startNode starts cluster node id on dbURL and waits for its banner. It is
// killed when the test ends; its log is shown if the test failed.
func startNode(t *testing.T, dbURL, id string) *node {
	t.Helper()
	bin, err := lecternBin()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{id: id, exited: make(chan struct{})}
	n.cmd = exec.Command(bin)
	n.cmd.Env = append(withoutLectern(os.Environ()),
		"LECTERN_HTTP_ADDR=127.0.0.1:0", "LECTERN_RTSP_ADDR=127.0.0.1:0", "LECTERN_RTSP_UDP_PORT=0",
		"LECTERN_WEBRTC_UDP_PORT=0", "LECTERN_DATA_DIR="+t.TempDir(), "LECTERN_DATABASE_URL="+dbURL,
		"LECTERN_CLUSTER=true", "LECTERN_NODE_ID="+id, "LECTERN_ADMIN_KEY="+clusterKey, "LECTERN_DRAIN_TIMEOUT=1s")
	n.cmd.Stderr = &n.log
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			var keep []string
			for _, l := range strings.Split(n.log.String(), "\n") {
				if !strings.Contains(l, "msg=http ") {
					keep = append(keep, l)
				}
			}
			s := strings.Join(keep, "\n")
			if len(s) > 8000 {
				s = "..." + s[len(s)-8000:]
			}
			t.Logf("log of %s:\n%s", id, s)
		}
	})
	banner := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := openLine.FindStringSubmatch(sc.Text()); m != nil {
				n.URL = m[1]
			}
			if m := rtspLine.FindStringSubmatch(sc.Text()); m != nil {
				n.RTSP = m[1]
				close(banner)
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case <-banner:
	case <-n.exited:
		t.Fatalf("node %s exited: %s", id, n.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("node %s printed no banner in 60 s: %s", id, n.log.String())
	}
	return n
}

// kill ends the node with kill -9 and waits until it is gone.
func (n *node) kill(t *testing.T) time.Time {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s: %v", n.id, err)
	}
	at := time.Now()
	<-n.exited
	return at
}

// call calls the node's REST API with the cluster's admin key and decodes the
// JSON answer; anything but want fails the test.
func (n *node) call(t *testing.T, method, path, body string, want int) map[string]any {
	t.Helper()
	return callAPI(t, n.URL, clusterKey, method, path, strings.NewReader(body), want)
}

// publishURL is the node's RTSP URL for room with key as the password.
func (n *node) publishURL(room, key string) string {
	return strings.Replace(n.RTSP, "rtsp://", "rtsp://encoder:"+key+"@", 1) + "/" + room
}

// encoderLoop is ffmpeg publishing a test pattern over RTSP in a reconnect
// loop, as a production encoder runs behind a name over the nodes: each
// attempt publishes to the next target in turn until it drops, then the
// next begins after a short pause.
func encoderLoop(t *testing.T, targets ...string) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
				"-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
				"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
				"-c:a", "libopus", "-b:a", "64k", "-f", "rtsp", "-rtsp_transport", "tcp", targets[i%len(targets)])
			if err := cmd.Start(); err != nil {
				t.Errorf("ffmpeg: %v", err)
				return
			}
			exited := make(chan struct{})
			go func() {
				cmd.Wait()
				close(exited)
			}()
			select {
			case <-stop:
				cmd.Process.Kill()
				<-exited
				return
			case <-exited:
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond): // the loop's back-off
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
	})
}
