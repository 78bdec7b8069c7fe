package ingest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"lectern/hls/hlstest"
)

// TestRTSPPublishToWebRTCAndRTSP publishes ffmpeg's test pattern with H.264 and
// Opus over RTSP (TCP, then UDP): a WebRTC subscriber decodes the video and gets
// the audio, and an RTSP reader records 5 s that ffprobe reads as H.264 640x360.
// Over TCP the picture decodes without an error; over UDP, where a loaded
// machine may drop datagrams and nothing repairs them, errors are logged.
func TestRTSPPublishToWebRTCAndRTSP(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			r := newRig(t, transport == "udp")
			viewer := joinViewer(t, r, "live")
			log := publish(t, r.url("live", "encoder:sk_live", ""), transport, "libopus")
			tracks := r.waitTracks(t, "live", 2, log)
			for _, tr := range tracks {
				if !tr.Info().WebRTC {
					t.Errorf("track %+v is not forwardable", tr.Info())
				}
			}
			viewer.waitFor(t, "an IDR with SPS and PPS, 50 more video NAL units and Opus", func() bool {
				return viewer.nalTypes[7] > 0 && viewer.nalTypes[8] > 0 && viewer.nalTypes[5] > 0 &&
					viewer.nalTypes[1]+viewer.nalTypes[5] > 50 && viewer.opus > 20
			})
			viewer.mu.Lock()
			first := viewer.order[:3]
			viewer.mu.Unlock()
			if first[0] != 7 || first[1] != 8 || first[2] != 5 {
				t.Errorf("the WebRTC viewer's stream starts with NAL units %v, want SPS, PPS, IDR", first)
			}
			frames, size := viewer.decodeFrames(t, transport == "udp")
			// Over UDP a burst of lost datagrams can take a whole keyframe
			// interval with it: the viewer goes on receiving until 20 frames
			// decode (or the wait for more runs out).
			for tries := 0; transport == "udp" && frames < 20 && tries < 5; tries++ {
				viewer.mu.Lock()
				n := viewer.nalTypes[1] + viewer.nalTypes[5]
				viewer.mu.Unlock()
				viewer.waitFor(t, "50 more video NAL units", func() bool { return viewer.nalTypes[1]+viewer.nalTypes[5] > n+50 })
				frames, size = viewer.decodeFrames(t, true)
			}
			if frames < 20 || size != "640x360" {
				t.Errorf("WebRTC viewer decoded %d frames of %s", frames, size)
			}
			if !viewer.kinds[strings.ToLower(webrtc.MimeTypeH264)] || !viewer.kinds[strings.ToLower(webrtc.MimeTypeOpus)] {
				t.Errorf("viewer codecs: %v", viewer.kinds)
			}
			// ffmpeg packetizes for Ethernet (about 1,460-byte payloads); the
			// viewer gets the keyframes re-packetized to fit 1,200 bytes.
			viewer.mu.Lock()
			largest := viewer.maxVideo
			viewer.mu.Unlock()
			if largest > 1200 || largest < 1000 {
				t.Errorf("the largest video packet to the WebRTC viewer is %d bytes, want 1,000 to 1,200", largest)
			}

			out := filepath.Join(t.TempDir(), "read.mp4")
			read := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", transport,
				"-i", r.url("live", "", "token=viewer-token"), "-t", "5", "-c", "copy", "-y", out)
			if msg, err := read.CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg read back: %v\n%s", err, msg)
			}
			if got := probe(t, out); got != "h264,640,360" {
				t.Errorf("read back %q, want h264,640,360", got)
			}
		})
	}
}

// TestRTSPAACIsNotForWebRTC publishes H.264 with AAC: the WebRTC viewer gets
// the video, and the AAC track says it does not go to WebRTC.
func TestRTSPAACIsNotForWebRTC(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	r := newRig(t, false)
	viewer := joinViewer(t, r, "live")
	log := publish(t, r.url("live", "", "token=publisher-token"), "tcp", "aac")
	tracks := r.waitTracks(t, "live", 2, log)
	var aac bool
	for _, tr := range tracks {
		info := tr.Info()
		if info.Kind == "audio" {
			aac = !info.WebRTC && strings.Contains(info.Note, "AAC") && strings.Contains(info.Codec, "mpeg4")
		}
	}
	if !aac {
		t.Errorf("tracks do not mark AAC as not forwardable: %+v", tracks)
	}
	viewer.waitFor(t, "H.264 video", func() bool { return viewer.nalTypes[5] > 0 && viewer.nalTypes[1] > 10 })
	viewer.mu.Lock()
	defer viewer.mu.Unlock()
	if viewer.opus != 0 || len(viewer.kinds) != 1 {
		t.Errorf("the viewer got audio over WebRTC: %v", viewer.kinds)
	}
}

// TestRTSPRefusesBadCredentials tries to record with no credentials, a wrong
// key, a bad token and an audience token; then the key works until rotated.
func TestRTSPRefusesBadCredentials(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	r := newRig(t, false)
	for name, url := range map[string]string{
		"none":           r.url("live", "", ""),
		"wrong key":      r.url("live", "encoder:sk_wrong", ""),
		"bad token":      r.url("live", "", "token=forged"),
		"audience token": r.url("live", "", "token=viewer-token"),
		"bad token user": r.url("live", "x:a.b.c", ""),
		"unknown room":   r.url("nowhere", "encoder:sk_live", ""),
	} {
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
			"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-f", "rtsp", "-rtsp_transport", "tcp", url)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("%s: ffmpeg published without valid credentials:\n%s", name, out)
		}
		if rm, ok := r.media.LiveRoom("live"); ok && len(rm.Tracks()) > 0 {
			t.Fatalf("%s: tracks were published", name)
		}
	}
	publish(t, r.url("live", "encoder:sk_live", ""), "tcp", "libopus")
	r.waitTracks(t, "live", 2, nil)

	r.auth.mu.Lock()
	r.auth.keys["live"] = "sk_rotated"
	r.auth.mu.Unlock()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
		"-t", "1", "-c:v", "libx264", "-f", "rtsp", "-rtsp_transport", "tcp", r.url("other", "encoder:sk_live", ""))
	if err := cmd.Run(); err == nil {
		t.Error("the old key still works after rotation")
	}
}
