package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/internal/peertest"
	"lectern/internal/syncbuf"
)

// Multi-process failover tests (issue 20): every node is a real lectern
// process (the test binary as main, TestMain) on one PostgreSQL database,
// with the default heartbeat (2 s, dead after 6 s), so that SIGSTOP and
// kill -9 hit a process as they would in production.

// proc is one lectern node in a process of its own.
type proc struct {
	id, url, rtsp string
	cmd           *exec.Cmd
	log           *syncbuf.Buffer
	exited        chan struct{}
}

var (
	openLine      = regexp.MustCompile(`Open:\s+(http://\S+)/`)
	rtspListening = regexp.MustCompile(`msg="rtsp listening" addr=(\S+)`)
)

// startProc starts a cluster node as a child process and waits for its banner.
func startProc(t *testing.T, dbURL, id string, extra map[string]string) *proc {
	t.Helper()
	env := withFreePorts(map[string]string{"LECTERN_DATA_DIR": t.TempDir(), "LECTERN_DATABASE_URL": dbURL,
		"LECTERN_CLUSTER": "true", "LECTERN_NODE_ID": id, "LECTERN_ADMIN_KEY": clusterAdminKey, "LECTERN_DRAIN_TIMEOUT": "1s"})
	for k, v := range extra {
		env[k] = v
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(cleanEnv(), "LECTERN_TEST_RUN_MAIN=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{id: id, cmd: cmd, log: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			var keep []string
			for _, l := range strings.Split(p.log.String(), "\n") {
				if !strings.Contains(l, "msg=http ") {
					keep = append(keep, l)
				}
			}
			t.Logf("log of %s:\n%s", id, tail(strings.Join(keep, "\n"), 8000))
		}
	})
	found := make(chan [2]string, 1)
	go func() {
		var u string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := openLine.FindStringSubmatch(sc.Text()); m != nil {
				u = m[1]
			}
			if m := rtspLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- [2]string{u, m[1]}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case got := <-found:
		p.url, p.rtsp = got[0], got[1]
		// The banner names the ingest URL when one is set: the node's own
		// RTSP address is in its log, which comes on another pipe (stderr)
		// and may come after the banner.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if m := rtspListening.FindStringSubmatch(p.log.String()); m != nil {
				p.rtsp = "rtsp://" + m[1]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: no \"rtsp listening\" line in its log 10 s after its banner: %s", id, p.log.String())
			}
			time.Sleep(10 * time.Millisecond) // polling the log the node writes
		}
	case <-p.exited:
		t.Fatalf("node %s exited: %s", id, p.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s printed no banner in 30 s: %s", id, p.log.String())
	}
	return p
}
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.id, err)
	}
}

// localParticipants is the participant count of room on node p alone (the
// forwarded header keeps it from asking the other nodes); -1 when p does not
// answer 200.
func localParticipants(p *proc, room string) int {
	req, _ := http.NewRequest("GET", p.url+"/api/v1/live", nil)
	req.Header.Set("Authorization", "Bearer "+clusterAdminKey)
	req.Header.Set("X-Lectern-Forwarded", "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return -1
	}
	var body struct {
		Rooms []liveRoomJSONForTest `json:"rooms"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	for _, r := range body.Rooms {
		if r.ID == room {
			return r.Participants
		}
	}
	return 0
}

type liveRoomJSONForTest struct {
	ID           string `json:"id"`
	Participants int    `json:"participants"`
}

// waitFor polls cond (another process's state) until it holds or limit passes,
// and returns how long it took.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond) // polling another process, bounded by limit
	}
	return time.Since(start)
}

// encoder is an ffmpeg process publishing a test pattern over RTSP/TCP until
// it is killed or its connection drops.
type encoder struct {
	cmd    *exec.Cmd
	exited chan struct{}
	at     time.Time // when it exited
	out    syncbuf.Buffer
}

func startFFmpeg(t *testing.T, args ...string) *encoder {
	t.Helper()
	e := &encoder{exited: make(chan struct{})}
	e.cmd = exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-nostdin"}, args...)...)
	e.cmd.Stdout, e.cmd.Stderr = &e.out, &e.out
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		e.cmd.Wait()
		e.at = time.Now()
		close(e.exited)
	}()
	t.Cleanup(func() {
		e.cmd.Process.Kill()
		<-e.exited
	})
	return e
}
func publishRTSP(t *testing.T, target string) *encoder {
	return startFFmpeg(t, "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "libopus", "-b:a", "64k", "-f", "rtsp", "-rtsp_transport", "tcp", target)
}
func withUser(base, user, pass string) string {
	return strings.Replace(base, "rtsp://", "rtsp://"+user+":"+pass+"@", 1)
}

// whepOffer makes a receive-only pion peer and its offer.
func whepOffer(t *testing.T) string {
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	return peertest.Offer(t, pc)
}

// postWHEP posts offer to base's WHEP endpoint of room, without following
// redirects, and returns the status (0 when the node did not answer).
func postWHEP(base, room, token, offer string) int {
	req, _ := http.NewRequest("POST", base+"/whep/"+room, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// watchWHEP joins room through base with a pion WHEP viewer, not following
// redirects; when the answer is 201 the viewer connects, and the channel gets
// the time its first video packet arrived.
func watchWHEP(t *testing.T, base, room, token string) (int, <-chan time.Time) {
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	first := make(chan time.Time, 1)
	var once sync.Once
	peertest.ReadTracks(t, pc, func(tr *webrtc.TrackRemote, _ *rtp.Packet) {
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			once.Do(func() { first <- time.Now() })
		}
	})
	offer := peertest.Offer(t, pc)
	req, _ := http.NewRequest("POST", base+"/whep/"+room, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return 0, first
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode == 201 {
		peertest.Accept(t, pc, string(answer))
	}
	return res.StatusCode, first
}

// setupShow creates the webinar room "show" with HLS on, its stream key and
// a viewer token, through node p.
func setupShow(t *testing.T, p *proc) (streamKey, viewer string, key map[string]any) {
	t.Helper()
	if code, body := call(t, "POST", p.url+"/api/v1/rooms", clusterAdminKey, `{"id":"show","name":"Show","mode":"webinar","broadcast":{"hls":true}}`); code != 201 {
		t.Fatalf("create room: %d %v", code, body)
	}
	code, key := call(t, "POST", p.url+"/api/v1/rooms/show/stream-key", clusterAdminKey, "")
	if code != 201 {
		t.Fatalf("stream key: %d %v", code, key)
	}
	_, tok := call(t, "POST", p.url+"/api/v1/tokens", clusterAdminKey, `{"identity":"vic","rooms":{"show":{"preset":"viewer"}}}`)
	viewer, _ = tok["token"].(string)
	if viewer == "" {
		t.Fatalf("token: %v", tok)
	}
	return key["stream_key"].(string), viewer, key
}

// encoderLoop is an encoder with a reconnect loop, as a production one runs
// behind a load balancer or a DNS name over the nodes: each attempt publishes
// to the next target in turn until it drops, then it tries again after a
// short pause. attempts records when each began and where.
type encoderLoop struct {
	mu       sync.Mutex
	attempts []attempt
	stop     chan struct{}
	done     chan struct{}
}
type attempt struct {
	target string
	at     time.Time
}

func startEncoderLoop(t *testing.T, targets ...string) *encoderLoop {
	l := &encoderLoop{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i := 0; ; i++ {
			target := targets[i%len(targets)]
			l.mu.Lock()
			l.attempts = append(l.attempts, attempt{target: target, at: time.Now()})
			l.mu.Unlock()
			e := publishRTSP(t, target)
			select {
			case <-l.stop:
				e.cmd.Process.Kill()
				<-e.exited
				return
			case <-e.exited:
			}
			select {
			case <-l.stop:
				return
			case <-time.After(200 * time.Millisecond): // the loop's back-off
			}
		}
	}()
	t.Cleanup(func() {
		close(l.stop)
		<-l.done
	})
	return l
}

// lastAttempt is when the latest attempt to target began.
func (l *encoderLoop) lastAttempt(target string) (time.Time, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var at time.Time
	n := 0
	for _, a := range l.attempts {
		if a.target == target {
			at, n = a.at, n+1
		}
	}
	return at, n
}

// hlsReader is ffmpeg reading a room's HLS and decoding it, reporting its
// decoded frame count as it goes (-progress).
type hlsReader struct {
	*encoder
	mu     sync.Mutex
	frames []frameAt
}
type frameAt struct {
	n  int
	at time.Time
}

var progressFrame = regexp.MustCompile(`^frame=(\d+)$`)

func readHLS(t *testing.T, url string) *hlsReader {
	r := &hlsReader{encoder: &encoder{exited: make(chan struct{})}}
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-i", url, "-map", "0:v:0", "-f", "null", "-progress", "pipe:1", "-stats_period", "0.2", "-")
	r.cmd = cmd
	cmd.Stderr = &r.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := progressFrame.FindStringSubmatch(sc.Text()); m != nil {
				var n int
				fmt.Sscan(m[1], &n)
				r.mu.Lock()
				if len(r.frames) == 0 || r.frames[len(r.frames)-1].n != n {
					r.frames = append(r.frames, frameAt{n, time.Now()})
				}
				r.mu.Unlock()
			}
		}
		cmd.Wait()
		r.at = time.Now()
		close(r.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-r.exited
	})
	return r
}

// decoded is the reader's frame count.
func (r *hlsReader) decoded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.frames) == 0 {
		return 0
	}
	return r.frames[len(r.frames)-1].n
}

// stallAfter is the longest time without a new frame after t0, and whether
// frames came after t0 at all.
func (r *hlsReader) stallAfter(t0 time.Time) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, longest, resumed := t0, time.Duration(0), false
	for _, f := range r.frames {
		if f.at.Before(t0) {
			continue
		}
		resumed = true
		longest = max(longest, f.at.Sub(prev))
		prev = f.at
	}
	return longest, resumed
}
