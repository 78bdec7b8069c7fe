package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/hls/hlstest"
	"lectern/program"
)

// rtspWatcher is ffmpeg reading a room over RTSP and decoding it, reporting
// each decoded picture's size (showinfo) and every error it logs.
type rtspWatcher struct {
	sizes  chan string
	mu     chan struct{} // a one-slot lock over errors and log
	errors []string
	log    []string
	done   chan error
}

var showinfoSize = regexp.MustCompile(`Parsed_showinfo.* s:(\d+x\d+) `)

func watchRTSP(t *testing.T, url string) *rtspWatcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "repeat+level+info",
		"-rtsp_transport", "tcp", "-i", url, "-map", "0", "-vf", "showinfo",
		// The source time base (90 kHz): a switch of source may put two
		// pictures closer than a frame interval.
		"-fps_mode", "passthrough", "-enc_time_base", "-1", "-f", "null", "-")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &rtspWatcher{sizes: make(chan string, 10000), mu: make(chan struct{}, 1), done: make(chan error, 1)}
	go func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			line := lines.Text()
			w.mu <- struct{}{}
			w.log = append(w.log, line)
			if strings.Contains(line, "[warning]") {
				t.Log(line)
			}
			if strings.Contains(line, "[error]") || strings.Contains(line, "[fatal]") {
				w.errors = append(w.errors, line)
			}
			<-w.mu
			if m := showinfoSize.FindStringSubmatch(line); m != nil {
				w.sizes <- m[1]
			}
		}
		close(w.sizes)
		w.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cancel()
		<-w.done
	})
	return w
}

// report is what ffmpeg logged: its errors, or its last lines.
func (w *rtspWatcher) report() (errors []string, tail string) {
	w.mu <- struct{}{}
	defer func() { <-w.mu }()
	log := w.log
	if len(log) > 40 {
		log = log[len(log)-40:]
	}
	return append([]string(nil), w.errors...), strings.Join(log, "\n")
}

// waitSize reads decoded sizes until n pictures of size arrived in a row
// (after any number of others), and returns the sizes seen in order.
func (w *rtspWatcher) waitSize(t *testing.T, size string, n int, seen []string) []string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	run := 0
	for run < n {
		select {
		case s, ok := <-w.sizes:
			if !ok {
				_, tail := w.report()
				t.Fatalf("ffmpeg stopped before %d pictures of %s (saw %v):\n%s", n, size, compact(seen), tail)
			}
			seen = append(seen, s)
			if s == size {
				run++
			} else {
				run = 0
			}
		case <-deadline:
			_, tail := w.report()
			t.Fatalf("no %d pictures of %s in a row (saw %v):\n%s", n, size, compact(seen), tail)
		}
	}
	return seen
}

// compact is a run-length summary of sizes: "640x360×30 320x240×25".
func compact(sizes []string) string {
	var b strings.Builder
	for i := 0; i < len(sizes); {
		j := i
		for j < len(sizes) && sizes[j] == sizes[i] {
			j++
		}
		b.WriteString(sizes[i] + "×" + strconv.Itoa(j-i) + " ")
		i = j
	}
	return strings.TrimSpace(b.String())
}

// TestRTSPReaderFollowsOnAir: two encoders publish into a room that neither
// broadcasts over HLS nor records, A at 640x360 first, then B at 320x240.
// ffmpeg reads the room over RTSP: it gets A (the program's first
// publisher); when a moderator puts B on air, it gets B, through the same
// session; every picture decodes without an error. A gortsplib reader
// checks the RTP: it starts with an IDR after SPS and PPS, its sequence
// numbers have no gap and its timestamps do not go back across the switch,
// every IDR carries its parameter sets (B's after the switch), and no
// payload is over 1200 bytes.
func TestRTSPReaderFollowsOnAir(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	r := newRig(t, false)
	logA := publish(t, r.url("live", "encoder:sk_live", ""), "tcp", "libopus")
	r.waitTracks(t, "live", 2, logA)
	_, logB := publishSize(t, r.url("live", "", "token=publisher-token"), "tcp", "libopus", "320x240")
	tracks := r.waitTracks(t, "live", 4, logB)
	var onAir program.OnAir
	for _, tr := range tracks {
		if tr.Owner().Identity() != "enc" { // B's
			continue
		}
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			onAir.Video = tr.ID()
		} else {
			onAir.Audio = tr.ID()
		}
	}
	if onAir.Video == "" || onAir.Audio == "" {
		t.Fatalf("B's tracks not found: %v", tracks)
	}

	w := watchRTSP(t, r.url("live", "", "token=viewer-token"))
	rr := readRTP(t, r.url("live", "", "token=viewer-token"))
	seen := w.waitSize(t, "640x360", 25, nil)
	if err := r.progs.SetOnAir("live", onAir); err != nil {
		t.Fatal(err)
	}
	seen = w.waitSize(t, "320x240", 50, seen)
	if got := compact(seen); !regexp.MustCompile(`^640x360×\d+ 320x240×\d+$`).MatchString(got) {
		t.Errorf("decoded sizes %s, want 640x360 then 320x240", got)
	}
	if errs, tail := w.report(); len(errs) > 0 {
		t.Errorf("ffmpeg reported errors:\n%s\n\nits last lines:\n%s", strings.Join(errs, "\n"), tail)
	}
	t.Logf("decoded %s", compact(seen))
	deadline := time.After(30 * time.Second)
	for {
		rr.mu.Lock()
		ok := rr.sizes["320x240"] >= 2
		rr.mu.Unlock()
		if ok {
			break
		}
		select {
		case <-rr.more:
		case <-deadline:
			t.Fatalf("the gortsplib reader got no two IDRs of B: %v", rr.sizes)
		}
	}
	rr.mu.Lock()
	t.Logf("gortsplib reader: %d access units, %d IDRs, IDR sizes %v, first NAL units %v, largest payload %d",
		rr.aus, rr.idrs, rr.sizes, rr.first, rr.maxPayload)
	if len(rr.first) < 3 || rr.first[0] != 7 || rr.first[1] != 8 || rr.first[2] != 5 {
		t.Errorf("the reader's first access unit has NAL units %v, want SPS, PPS, IDR", rr.first)
	}
	if rr.gaps > 0 || rr.backwards > 0 {
		t.Errorf("%d sequence gaps, %d timestamps going back", rr.gaps, rr.backwards)
	}
	if rr.idrsWithParams != rr.idrs || rr.sizes["640x360"] == 0 {
		t.Errorf("%d IDRs, %d with parameter sets, of sizes %v", rr.idrs, rr.idrsWithParams, rr.sizes)
	}
	if rr.maxPayload > 1200 {
		t.Errorf("an RTP payload of %d bytes", rr.maxPayload)
	}
	rr.mu.Unlock()
	if st := r.progs.Status("live"); st.Video != onAir.Video {
		t.Errorf("on air: %+v", st)
	}
}

// rtpReader is a gortsplib client reading a room's video over RTSP: it
// checks the RTP itself (where it starts, sequence numbers, packet sizes).
type rtpReader struct {
	mu        sync.Mutex
	first     []byte // NAL unit types of the first access unit
	aus, idrs int
	// idrsWithParams counts IDRs whose access unit carries SPS and PPS.
	idrsWithParams int
	gaps           int
	maxPayload     int
	backwards      int
	sizes          map[string]int
	more           chan struct{}
	// close ends the reader's session.
	close func()
}

func readRTP(t *testing.T, url string) *rtpReader {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var h *format.H264
	medi := desc.FindFormat(&h)
	if medi == nil {
		t.Fatalf("no H.264 in %+v", desc.Medias)
	}
	dec, err := h.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	rr := &rtpReader{sizes: map[string]int{}, more: make(chan struct{}, 1), close: c.Close}
	var seq uint16
	var ts uint32
	started := false
	c.OnPacketRTP(medi, h, func(pkt *rtp.Packet) {
		rr.mu.Lock()
		defer rr.mu.Unlock()
		if started && pkt.SequenceNumber != seq+1 {
			rr.gaps++
		}
		if started && int32(pkt.Timestamp-ts) < 0 {
			rr.backwards++
		}
		started, seq, ts = true, pkt.SequenceNumber, pkt.Timestamp
		rr.maxPayload = max(rr.maxPayload, len(pkt.Payload))
		au, err := dec.Decode(pkt)
		if err != nil {
			return
		}
		rr.aus++
		var types []byte
		var sps []byte
		for _, n := range au {
			types = append(types, n[0]&0x1f)
			if n[0]&0x1f == 7 {
				sps = n
			}
		}
		if rr.first == nil {
			rr.first = types
		}
		if bytes.IndexByte(types, 5) >= 0 {
			rr.idrs++
			if bytes.IndexByte(types, 7) >= 0 && bytes.IndexByte(types, 8) >= 0 {
				rr.idrsWithParams++
				var s h264.SPS
				if s.Unmarshal(sps) == nil {
					rr.sizes[fmt.Sprintf("%dx%d", s.Width(), s.Height())]++
				}
			}
		}
		select {
		case rr.more <- struct{}{}:
		default:
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	return rr
}

// TestRTSPReaderGetsAAC: an encoder's AAC is the program's audio, and an RTSP
// reader gets it as AAC (RFC 3640) beside the H.264; ffmpeg decodes both.
func TestRTSPReaderGetsAAC(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	r := newRig(t, false)
	log := publish(t, r.url("live", "encoder:sk_live", ""), "tcp", "aac")
	r.waitTracks(t, "live", 2, log)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	file := filepath.Join(t.TempDir(), "read.mkv")
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-rtsp_transport", "tcp", "-i", r.url("live", "", "token=viewer-token"), "-map", "0", "-t", "3",
		"-c", "copy", "-y", file).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("ffmpeg: %v\n%s\nthe server logged:\n%s", err, out, tail(r.logs.String(), 3000))
	}
	codecs, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
		"-of", "csv=p=0", file).CombinedOutput()
	if got := strings.Fields(string(codecs)); err != nil || strings.Join(got, ",") != "h264,aac" {
		t.Errorf("read back streams %q, %v; want h264, aac", codecs, err)
	}
	out, err = exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-i", file, "-map", "0", "-f", "null", "-").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("decoding what was read: %v\n%s", err, out)
	}
}

// TestRTSPReaderRunsTheProgram: in a room whose HLS and recording are off, a
// reader starts the room's program, which stops when the reader leaves.
func TestRTSPReaderRunsTheProgram(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	r := newRig(t, false)
	log := publish(t, r.url("live", "encoder:sk_live", ""), "tcp", "libopus")
	r.waitTracks(t, "live", 2, log)
	if st := r.progs.Status("live"); st.Video != "" {
		t.Fatalf("a program runs before any reader: %+v", st)
	}
	rr := readRTP(t, r.url("live", "", "token=viewer-token"))
	deadline := time.After(30 * time.Second)
	for {
		rr.mu.Lock()
		n := rr.aus
		rr.mu.Unlock()
		if n >= 10 {
			break
		}
		select {
		case <-rr.more:
		case <-deadline:
			t.Fatalf("the reader got %d access units", n)
		}
	}
	if st := r.progs.Status("live"); !st.Live || st.Video == "" {
		t.Fatalf("the program while a reader reads: %+v", st)
	}
	rr.close()
	for end := time.Now().Add(15 * time.Second); r.progs.Status("live").Video != ""; {
		if time.Now().After(end) {
			t.Fatalf("the program still runs after its reader left: %+v", r.progs.Status("live"))
		}
		time.Sleep(20 * time.Millisecond) // polling the status, with a deadline
	}
}
