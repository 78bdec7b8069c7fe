package hls

import (
	"strings"
	"testing"

	"lectern/access"
	"lectern/hls/hlstest"
	"lectern/sfu"
)

// TestAudioOnlyBroadcast: a room whose media policy takes the microphone
// alone broadcasts its speaker's Opus as audio-only LL-HLS: the multivariant
// playlist names Opus alone (no resolution), the media playlist is LL-HLS
// with independent parts, and ffprobe finds one Opus stream, no video, that
// ffmpeg decodes without an error. A camera a member's override let in stays
// off air.
func TestAudioOnlyBroadcast(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	sound := hlstest.NewSound(t, 4, 440)
	clip := hlstest.NewClip(t, 320, 180, 4, "cam")
	b := newTestBroadcast(t, DefaultConfig())
	opts := sfu.RoomOptions{Broadcast: true, Tier: access.FHD, Refused: access.Camera | access.Screen | access.ScreenAudio}
	if err := b.svc.Configure("radio", Settings{HLS: true, Media: opts}); err != nil {
		t.Fatal(err)
	}
	r, err := b.media.Room("radio", opts)
	if err != nil {
		t.Fatal(err)
	}
	host, err := r.Join(sfu.ParticipantOptions{Identity: "host", Kind: sfu.KindBrowser,
		Permissions: access.Publish | access.Subscribe, Sources: access.Camera})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close("test over") })
	publish(t, host, hlstest.Track{Source: sfu.SourceCamera, Clip: clip}, hlstest.Track{Source: sfu.SourceMicrophone, Sound: sound})
	b.waitLive("radio")

	url := b.url + "/hls/radio/index.m3u8"
	status, body, _ := b.get(url)
	if status != 200 || !strings.Contains(string(body), `CODECS="opus"`) || strings.Contains(string(body), "RESOLUTION") {
		t.Fatalf("index.m3u8: %d\n%s", status, body)
	}
	media := b.url + "/hls/radio/" + b.variantURI("radio", 0)
	b.waitSegments(media, 2)
	pl := b.playlist(media)
	if bad := pl.CheckLowLatency(); len(bad) > 0 {
		t.Errorf("%v", bad)
	}
	if bad := pl.CheckParts(); len(bad) > 0 {
		t.Errorf("%v", bad)
	}
	streams := hlstest.Probe(t, url)
	if len(streams) != 1 || streams[0].CodecType != "audio" || streams[0].CodecName != "opus" {
		t.Fatalf("ffprobe found %+v, want one opus audio stream", streams)
	}
	if stderr, err := hlstest.Decode(t, url, 4); err != nil || strings.TrimSpace(stderr) != "" {
		t.Fatalf("ffmpeg decode: %v\n%s", err, stderr)
	}
	_, mbody, _ := b.get(media)
	if !strings.Contains(string(mbody), "INDEPENDENT=YES") {
		t.Errorf("no independent part in\n%s", mbody)
	}
	t.Logf("multivariant:\n%s\nmedia:\n%s", body, mbody)
}
