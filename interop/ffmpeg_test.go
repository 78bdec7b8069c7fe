package interop

import "testing"

// TestFFmpegRTSP: ffmpeg publishes a room over RTSP with the stream key (the
// shared program) and another ffmpeg plays the room over RTSP with a token in
// the query, decoding 75 frames (3 s).
func TestFFmpegRTSP(t *testing.T) {
	s, room := programRoom(t)
	if got := ffmpegDecode(t, 75, "-rtsp_transport", "tcp", "-i", s.rtspPlayURL(t, room)); got < 75 {
		t.Fatalf("ffmpeg decoded %d frames of the room over RTSP, want 75", got)
	}
}

// TestFFmpegHLS: ffmpeg plays the room's LL-HLS (it ignores the LL tags and
// plays segments), decoding 75 frames.
func TestFFmpegHLS(t *testing.T) {
	s, room := programRoom(t)
	if got := ffmpegDecode(t, 75, "-i", s.hlsURL(t, room)); got < 75 {
		t.Fatalf("ffmpeg decoded %d frames of the room's HLS, want 75", got)
	}
}
