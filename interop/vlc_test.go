package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVLCHLS: VLC 3 plays the room's LL-HLS (as a plain HLS player: it
// ignores the LL tags) and transcodes what it decoded to MPEG-4 Part 2 in a
// file for 8 s; ffprobe counts at least 75 frames of 640x360 in it.
func TestVLCHLS(t *testing.T) {
	needBin(t, "vlc", "ffprobe")
	s, room := programRoom(t)
	// Not t.TempDir(): its parent is private to the user running the test,
	// and VLC may run as another (below).
	dir, err := os.MkdirTemp("", "lectern-vlc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	out := filepath.Join(dir, "vlc.ts")
	args := []string{"-I", "dummy", "--no-interact", s.hlsURL(t, room),
		"--sout", "#transcode{vcodec=mp4v,acodec=none}:std{access=file,mux=ts,dst=" + out + "}",
		"--run-time=8", "vlc://quit"}
	name := "vlc"
	if os.Geteuid() == 0 {
		// VLC refuses to run as root (CI runs as root): run it as nobody,
		// with a home and an output directory it may write.
		needBin(t, "setpriv")
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		name = "setpriv"
		args = append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=" + dir, "vlc"}, args...)
	}
	p := start(t, t.Context(), name, args...)
	if err := p.wait(t, 90*time.Second); err != nil {
		t.Fatalf("vlc: %v", err)
	}
	probe, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=width,height,nb_read_frames", "-of", "default=noprint_wrappers=1", out).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe of what VLC decoded: %v\n%s", err, probe)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(probe), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			fields[k] = v
		}
	}
	frames, _ := strconv.Atoi(fields["nb_read_frames"])
	t.Logf("VLC decoded %d frames in 8 s", frames)
	if frames < 75 || fields["width"] != "640" || fields["height"] != "360" {
		t.Fatalf("VLC's output: %s, want at least 75 frames of 640x360", probe)
	}
}
