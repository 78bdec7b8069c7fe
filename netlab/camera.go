package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// cameraFile names the generated camera in the temporary directory; the
// version changes when the recipe does.
const cameraFile = "lectern-netlab-camera-v1.y4m"

// NoisyCamera returns a 1280x720, 30 fps Y4M file for Chromium's fake
// camera (--use-file-for-fake-video-capture, played in a loop), making it
// with ffmpeg on first use. Chromium's built-in fake camera is a flat moving
// pattern that VP8 codes at a few hundred kbit/s even at 720p; this one is
// ffmpeg's testsrc2 with temporal noise, which the encoder cannot predict,
// so that every layer runs near its bitrate ceiling as a real camera
// in a dim room does.
func NoisyCamera(ctx context.Context) (string, error) {
	path := filepath.Join(os.TempDir(), cameraFile)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return "", fmt.Errorf("netlab: the noisy camera needs ffmpeg: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), cameraFile+".*.y4m")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-vf", "noise=alls=8:allf=t", "-t", "4", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", tmp.Name()).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("netlab: ffmpeg: %v: %s", err, out)
	}
	return path, os.Rename(tmp.Name(), path)
}
