package hls

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/sfu"
)

// TestPublisherToHLS: a pion publisher's H.264 and Opus come out of the
// room's LL-HLS as H.264 at the published size and Opus, and ffmpeg decodes it.
func TestPublisherToHLS(t *testing.T) {
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	b := newTestBroadcast(t, DefaultConfig())
	host := b.room("live")
	publish(t, host, hlstest.Track{Source: sfu.SourceCamera, Clip: clip}, hlstest.Track{Source: sfu.SourceMicrophone, Sound: sound})
	b.waitLive("live")

	url := b.url + "/hls/live/index.m3u8"
	status, body, _ := b.get(url)
	if status != 200 {
		t.Fatalf("index.m3u8: %d %s", status, body)
	}
	t.Logf("multivariant:\n%s", body)
	checkProbed360(t, url)
	stderr, err := hlstest.Decode(t, url, 5)
	if err != nil || strings.TrimSpace(stderr) != "" {
		t.Fatalf("ffmpeg decode: %v\n%s", err, stderr)
	}
}

// TestBlockingReload: the media playlists are LL-HLS, a blocking request for
// the next part returns as soon as that part is in the playlist, and so does
// a request for the hinted part itself; requests too far ahead get 400.
func TestBlockingReload(t *testing.T) {
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	b := newTestBroadcast(t, DefaultConfig())
	publish(t, b.room("live"), hlstest.Track{Source: sfu.SourceCamera, Clip: clip})
	b.waitLive("live")
	_, body, _ := b.get(b.url + "/hls/live/index.m3u8")
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	media := b.url + "/hls/live/" + lines[len(lines)-1]
	base := media[:strings.LastIndex(media, "/")+1]

	status, body, hdr := b.get(media)
	pl, err := hlstest.ParseMedia(body)
	if status != 200 || err != nil {
		t.Fatalf("media playlist: %d %v %s", status, err, body)
	}
	if bad := pl.CheckLowLatency(); len(bad) > 0 {
		t.Fatalf("%v\n%s", bad, body)
	}
	if hdr.Get("Cache-Control") == "" || hdr.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Errorf("headers %v", hdr)
	}
	for range 5 {
		msn, part := pl.NextPart()
		start := time.Now()
		status, body, _ = b.get(fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", media, msn, part))
		waited := time.Since(start)
		next, err := hlstest.ParseMedia(body)
		if status != 200 || err != nil {
			t.Fatalf("blocking request: %d %v %s", status, err, body)
		}
		// The playlist has the part asked for (or, if the segment ended
		// before it, part 0 of the next) and nothing after it: it came
		// back as soon as the part existed.
		gotMSN, gotPart := next.NextPart()
		if !(gotMSN == msn && gotPart == part+1 || gotMSN == msn+1 && gotPart <= 1) {
			t.Fatalf("asked for %d.%d, the playlist ends before %d.%d:\n%s", msn, part, gotMSN, gotPart, body)
		}
		if waited > 2*time.Second {
			t.Errorf("the blocking request took %v", waited)
		}
		if bad := next.CheckLowLatency(); len(bad) > 0 {
			t.Fatal(bad)
		}
		if next.MediaSequence < pl.MediaSequence {
			t.Fatalf("media sequence went from %d to %d", pl.MediaSequence, next.MediaSequence)
		}
		pl = next
	}
	// The hinted part is held until it exists, then served whole; the
	// playlist that comes next lists it.
	hint := pl.Hint
	status, data, hdr := b.get(base + hint)
	if status != 200 || len(data) < 8 || string(data[4:8]) != "moof" || !strings.Contains(hdr.Get("Cache-Control"), "immutable") {
		t.Fatalf("hinted part %s: %d %q %v", pl.Hint, status, data[:min(8, len(data))], hdr)
	}
	msn, part := pl.NextPart()
	_, body, _ = b.get(fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", media, msn, part))
	if pl, err = hlstest.ParseMedia(body); err != nil {
		t.Fatal(err)
	}
	// The part asked for is listed, or part 0 of the next segment if a
	// keyframe came first; either way it is the one that was hinted.
	uri := pl.PartURI(msn, part)
	if uri == "" {
		uri = pl.PartURI(msn+1, 0)
	}
	if uri != hint {
		t.Fatalf("the part after %d.%d is %q, not the hinted %s:\n%s", msn, part, uri, hint, body)
	}
	msn, _ = pl.NextPart()
	for _, q := range []string{fmt.Sprintf("_HLS_msn=%d", msn+3), "_HLS_part=1", fmt.Sprintf("_HLS_msn=%d&_HLS_part=99", msn), "_HLS_msn=x"} {
		if status, body, _ := b.get(media + "?" + q); status != 400 {
			t.Errorf("%s: %d %s, want 400", q, status, body)
		}
	}
	if status, _, _ := b.get(base + "v0-999999.m4s"); status != 404 {
		t.Errorf("a segment far ahead: %d, want 404", status)
	}
	bad := strings.Replace(media, "/live/", "/live/AAAAAAAAAAAAAAAAAAAAAA", 1)
	if status, _, _ := b.get(bad); status != 403 && status != 404 {
		t.Errorf("a forged session: %d", status)
	}
}

// TestBroadcastEnds: when the on-air publisher leaves, the stream's playlists
// end with EXT-X-ENDLIST and index.m3u8 answers offline; the next publisher
// starts a new stream under new URIs.
func TestBroadcastEnds(t *testing.T) {
	clip := hlstest.NewClip(t, 320, 180, 2, "cam")
	b := newTestBroadcast(t, DefaultConfig())
	host := b.room("end")
	pub := publish(t, host, hlstest.Track{Source: sfu.SourceCamera, Clip: clip})
	b.waitLive("end")
	media := b.mediaPlaylist("end")
	pub.Stop()
	host.Close("left")
	// A blocking reload far enough ahead is answered with the ended playlist.
	pl := b.playlist(media)
	msn, _ := pl.NextPart()
	status, body, _ := b.get(fmt.Sprintf("%s?_HLS_msn=%d", media, msn+1))
	if ended, err := hlstest.ParseMedia(body); status != 200 || err != nil || !ended.Ended {
		t.Fatalf("after the publisher left: %d %v\n%s", status, err, body)
	}
	if status, _, _ := b.get(b.url + "/hls/end/index.m3u8"); status != 404 {
		t.Errorf("index.m3u8 of an ended broadcast: %d", status)
	}
	if st := b.svc.Status("end"); st.State != "offline" || st.Program.Live {
		t.Errorf("status %+v", st)
	}

	next := b.join("end", "second")
	publish(t, next, hlstest.Track{Source: sfu.SourceCamera, Clip: clip})
	b.waitLive("end")
	if again := b.mediaPlaylist("end"); again == media {
		t.Errorf("the new broadcast reuses the old stream's URI %s", media)
	}
}

// checkProbed360 fails unless ffprobe finds H.264 640x360 video and Opus audio
// in the HLS stream at url.
func checkProbed360(t *testing.T, url string) {
	t.Helper()
	streams := hlstest.Probe(t, url)
	var video, audio bool
	for _, s := range streams {
		switch {
		case s.CodecType == "video" && s.CodecName == "h264" && s.Width == 640 && s.Height == 360:
			video = true
		case s.CodecType == "audio" && s.CodecName == "opus":
			audio = true
		}
	}
	if !video || !audio {
		t.Fatalf("ffprobe found %+v, want h264 640x360 and opus", streams)
	}
}
