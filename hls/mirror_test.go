package hls

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/sfu"
	"lectern/storage/objstore/miniotest"
)

// TestHLSThroughCDN: with a CDN base URL (here MinIO itself) the media
// playlists served by the origin name the bucket for every init segment,
// part and segment, keep the LL-HLS tags but no preload hint, and ffprobe
// plays the stream reading its media from MinIO anonymously (the origin
// answers 404 for media).
func TestHLSThroughCDN(t *testing.T) {
	srv := miniotest.Start(t)
	store := srv.Store("lectern")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := store.AllowPublicRead(ctx, MirrorPrefix); err != nil {
		t.Fatal(err)
	}
	cdnURL := "http://" + srv.Endpoint + "/lectern"

	cfg := DefaultConfig()
	cfg.CDNURL = cdnURL
	b := newTestBroadcast(t, cfg)
	if err := b.svc.UseCDN(store); err != nil {
		t.Fatal(err)
	}
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	publish(t, b.room("live"), hlstest.Track{Source: sfu.SourceCamera, Clip: clip}, hlstest.Track{Source: sfu.SourceMicrophone, Sound: sound})
	b.waitLive("live")

	status, body, _ := b.get(b.url + "/hls/live/index.m3u8")
	if status != 200 {
		t.Fatalf("index.m3u8: %d %s", status, body)
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	media := b.url + "/hls/live/" + lines[len(lines)-1]
	streamID := strings.Split(lines[len(lines)-1], "/")[1]
	prefix := cdnURL + "/hls/live/" + streamID + "/"

	// The mirror follows the rendition a few uploads behind: wait until it
	// lists segment 0 complete (a blocking request on the mirror's playlist).
	status, body, _ = b.get(media + "?_HLS_msn=0")
	pl, err := hlstest.ParseMedia(body)
	if status != 200 || err != nil {
		t.Fatalf("media playlist: %d %v\n%s", status, err, body)
	}
	checkCDNPlaylist(t, pl, body, prefix)

	// A blocking reload for the next part answers once the mirror has
	// uploaded it, and MinIO serves that part to anyone, immutable.
	msn, part := pl.NextPart()
	status, body, _ = b.get(fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", media, msn, part))
	pl, err = hlstest.ParseMedia(body)
	if status != 200 || err != nil {
		t.Fatalf("blocking reload: %d %v\n%s", status, err, body)
	}
	checkCDNPlaylist(t, pl, body, prefix)
	partURI := pl.PartURI(msn, part)
	if partURI == "" {
		// The segment ended before the part asked for: it is part 0 of the next.
		partURI = pl.PartURI(msn+1, 0)
	}
	if !strings.HasPrefix(partURI, prefix) {
		t.Fatalf("blocking reload for %d.%d does not list it:\n%s", msn, part, body)
	}
	partName := strings.TrimPrefix(partURI, prefix)
	status, data, hdr := b.get(partURI)
	if status != 200 || len(data) == 0 {
		t.Fatalf("part from MinIO: %d %s", status, data)
	}
	if !strings.Contains(hdr.Get("Cache-Control"), "immutable") || hdr.Get("Content-Type") != "video/iso.segment" {
		t.Errorf("part headers from MinIO: %v", hdr)
	}
	if status, _, _ := b.get(media[:strings.LastIndex(media, "/")+1] + partName); status != 404 {
		t.Errorf("origin answered %d for a part, want 404", status)
	}

	checkProbed360(t, media)

	keys, err := store.List(ctx, "hls/live/"+streamID+"/")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{path.Base(pl.Segments[0].Map), fmt.Sprintf("v0-%d.m4s", pl.Segments[0].MSN), partName} {
		if !slices.Contains(keys, "hls/live/"+streamID+"/"+want) {
			t.Errorf("bucket has no %s among %v", want, keys)
		}
	}
}

// checkCDNPlaylist checks a mirrored media playlist: every URI at the CDN,
// no preload hint, the other LL-HLS rules kept.
func checkCDNPlaylist(t *testing.T, pl *hlstest.MediaPlaylist, body []byte, prefix string) {
	t.Helper()
	if len(pl.Segments) == 0 {
		t.Fatalf("no complete segment:\n%s", body)
	}
	if pl.Hint != "" || strings.Contains(string(body), "PRELOAD-HINT") {
		t.Errorf("mirrored playlist has a preload hint:\n%s", body)
	}
	for _, bad := range pl.CheckLowLatency() {
		if bad != "no EXT-X-PRELOAD-HINT" {
			t.Errorf("%s\n%s", bad, body)
		}
	}
	uris := 0
	check := func(u string) {
		uris++
		if !strings.HasPrefix(u, prefix) {
			t.Errorf("URI %q is not under %s", u, prefix)
		}
	}
	for _, g := range pl.Segments {
		check(g.URI)
		check(g.Map)
		for _, p := range g.Parts {
			check(p.URI)
		}
	}
	for _, p := range pl.Open {
		check(p.URI)
	}
	if uris < 3 {
		t.Errorf("only %d URIs:\n%s", uris, body)
	}
}

// TestCDNURLConfig: the CDN base URL must be an absolute http(s) URL.
func TestCDNURLConfig(t *testing.T) {
	for url, ok := range map[string]bool{
		"":                              true,
		"https://cdn.example.com":       true,
		"http://127.0.0.1:9000/lectern": true,
		"https://cdn.example.com/":      false,
		"cdn.example.com":               false,
		"ftp://cdn.example.com":         false,
		"https://cdn.example.com/a?b=c": false,
	} {
		cfg := DefaultConfig()
		cfg.CDNURL = url
		if err := cfg.Validate(); (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "hls_cdn_url") {
			t.Errorf("CDNURL %q: %v", url, err)
		}
	}
}
