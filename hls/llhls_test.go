package hls

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"lectern/hls/hlstest"
)

// fetchMedia gets a media playlist, parses it with the test parser and with
// gohlslib's (a strict third-party one), and fails the test on any error.
func (b *testBroadcast) fetchMedia(url string) (*hlstest.MediaPlaylist, []byte) {
	b.t.Helper()
	status, body, _ := b.get(url)
	if status != 200 {
		b.t.Fatalf("%s: %d %s", url, status, body)
	}
	pl, err := hlstest.ParseMedia(body)
	if err != nil {
		b.t.Fatalf("%s: %v\n%s", url, err, body)
	}
	var m playlist.Media
	if err := m.Unmarshal(body); err != nil {
		b.t.Fatalf("gohlslib cannot parse %s: %v\n%s", url, err, body)
	}
	if len(m.RenditionReport) != len(pl.Reports) || (m.PreloadHint == nil) != (pl.Hint == "") {
		b.t.Fatalf("gohlslib reads %d rendition reports and hint %v:\n%s", len(m.RenditionReport), m.PreloadHint, body)
	}
	return pl, body
}

// partNumber reads the fMP4 sequence number of a part (moof, then mfhd),
// which Lectern numbers as the part's file name does.
func partNumber(data []byte) (uint32, bool) {
	if len(data) < 24 || string(data[4:8]) != "moof" || string(data[12:16]) != "mfhd" {
		return 0, false
	}
	return binary.BigEndian.Uint32(data[20:24]), true
}

// TestLLHLSRules checks the served playlists of a simulcast broadcast
// against RFC 8216bis: server control and parts (sections 4.4.3.8,
// 4.4.4.9), rendition reports (4.4.5.4), the preload hint (4.4.5.3) and
// blocking reloads (6.2.5.2).
func TestLLHLSRules(t *testing.T) {
	b := newTestBroadcast(t, DefaultConfig())
	urls := simulcastBroadcast(t, b, "rules")
	names := make([]string, len(urls))
	for i, u := range urls {
		names[i] = u[strings.LastIndex(u, "/")+1:]
	}
	// Enough stream for the part window to slide: more than three target
	// durations (6 s) of segments.
	b.waitSegments(urls[0], 7)

	for i, u := range urls {
		pl, body := b.fetchMedia(u)
		var bad []string
		bad = append(bad, pl.CheckLowLatency()...)
		bad = append(bad, pl.CheckParts()...)
		others := append(append([]string(nil), names[:i]...), names[i+1:]...)
		bad = append(bad, pl.CheckReports(names[i], others)...)
		if len(bad) > 0 {
			t.Errorf("rendition %d:\n%s\n%s", i, strings.Join(bad, "\n"), body)
		}
		if first := pl.Segments[0]; len(first.Parts) > 0 {
			t.Errorf("rendition %d lists parts for its whole playlist, %d segments:\n%s", i, len(pl.Segments), body)
		}
	}

	// A rendition report is as up to date as the playlist carrying it: the
	// part it names is listed by the reported rendition, not older than
	// what that rendition's playlist had just before (a part may be
	// written to one rendition before the other), not newer than after.
	before := b.playlistOf(urls[2])
	pl, body := b.fetchMedia(urls[0])
	if len(pl.Reports) != 2 {
		t.Fatalf("%d rendition reports:\n%s", len(pl.Reports), body)
	}
	after := b.playlistOf(urls[2] + fmt.Sprintf("?_HLS_msn=%d&_HLS_part=%d", pl.Reports[1].LastMSN, pl.Reports[1].LastPart))
	rep := pl.Reports[1]
	if rep.URI != names[2] {
		t.Fatalf("reports are not in rendition order:\n%s", body)
	}
	uri := after.PartURI(rep.LastMSN, rep.LastPart)
	if uri == "" {
		t.Fatalf("rendition report %+v names a part %s does not list:\n%s", rep, names[2], body)
	}
	bm, bp, _ := before.LastPart()
	am, ap, _ := after.LastPart()
	seq := func(p *hlstest.MediaPlaylist, msn uint64, part int) int {
		n, err := strconv.Atoi(strings.TrimSuffix(p.PartURI(msn, part)[len("v2-p"):], ".m4s"))
		if err != nil {
			t.Fatalf("part %d.%d: %v", msn, part, err)
		}
		return n
	}
	if n, lo, hi := seq(after, rep.LastMSN, rep.LastPart), seq(before, bm, bp), seq(after, am, ap); n < lo-2 || n > hi {
		t.Errorf("rendition report names part %d of %s; its playlist had %d before and %d after", n, names[2], lo, hi)
	}

	// Blocking reloads on the top rendition (section 6.2.5.2).
	top := urls[2]
	base := top[:strings.LastIndex(top, "/")+1]
	pl, _ = b.fetchMedia(top)
	msn, part := pl.NextPart()
	pl, body = b.fetchMedia(fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", top, msn, part))
	if pl.PartURI(msn, part) == "" && pl.PartURI(msn+1, 0) == "" {
		t.Errorf("a blocking reload for %d.%d lists neither it nor %d.0:\n%s", msn, part, msn+1, body)
	}
	msn, _ = pl.NextPart()
	pl, body = b.fetchMedia(fmt.Sprintf("%s?_HLS_msn=%d", top, msn))
	if last := pl.MediaSequence + uint64(len(pl.Segments)) - 1; len(pl.Segments) == 0 || last < msn {
		t.Errorf("a blocking reload for segment %d ends at segment %d:\n%s", msn, last, body)
	}
	// Requests too far ahead: each is too far ahead of the playlist it was
	// computed from, by a margin of two parts (0.4 s) to one segment (2 s).
	// A loaded machine can take that long between the playlist and the
	// request, and the request is then rightly held and served (200); so
	// each is tried against fresh playlists, up to five times, until one is
	// answered in time: a server without the rule never answers 400.
	for _, ahead := range []func(msn uint64, part int) string{
		func(msn uint64, _ int) string { return fmt.Sprintf("_HLS_msn=%d", msn+3) },                        // more than two segments ahead
		func(msn uint64, part int) string { return fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", msn, part+16) }, // past the Advance Part Limit (3 s / 0.2 s)
		func(msn uint64, _ int) string { return fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", msn+1, 16) },       // the same, in the next segment
	} {
		var statuses []int
		for len(statuses) < 5 {
			pl, _ = b.fetchMedia(top)
			msn, part := pl.NextPart()
			q := ahead(msn, part)
			status, body, _ := b.get(top + "?" + q)
			statuses = append(statuses, status)
			if status == 400 {
				break
			}
			if status != 200 {
				t.Errorf("%s: %d, want 400 (or 200 once the stream caught up)\n%s", q, status, body)
				break
			}
		}
		if statuses[len(statuses)-1] != 400 {
			t.Errorf("%s: answered %v, never 400", ahead(0, 0), statuses)
		}
	}
	msn, part = pl.NextPart()
	for _, q := range []string{
		fmt.Sprintf("_HLS_part=%d", part),                                    // _HLS_part without _HLS_msn
		"_HLS_msn=x", "_HLS_msn=-1", "_HLS_msn=1.0", "_HLS_msn=1&_HLS_msn=2", // not one decimal-integer
	} {
		if status, body, _ := b.get(top + "?" + q); status != 400 {
			t.Errorf("%s: %d, want 400\n%s", q, status, body)
		}
	}

	// The preload hint across segment boundaries (section 4.4.5.3): every
	// hinted part is served (held until it exists), it is the part that
	// the next playlist lists after the last one, and it carries the
	// number its name has (in the 32 bits of mfhd). Keyframes come every second and parts are
	// 200 ms, so most segments end exactly where a hint was given.
	pl = b.playlistOf(top)
	boundaries := 0
	for range 40 {
		hint := pl.Hint
		status, data, _ := b.get(base + hint)
		if status != 200 {
			t.Fatalf("hinted part %s: %d %s", hint, status, data)
		}
		n, ok := partNumber(data)
		named, _ := strconv.ParseUint(strings.TrimSuffix(hint[len("v2-p"):], ".m4s"), 10, 64)
		if !ok || n != uint32(named) {
			t.Fatalf("hinted part %s carries sequence number %d (%v)", hint, n, ok)
		}
		msn, part := pl.NextPart()
		next, body := b.fetchMedia(fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", top, msn, part))
		gotMSN, gotPart, ok := next.PartAt(hint)
		if !ok || !(gotMSN == msn && gotPart == part || gotMSN == msn+1 && gotPart == 0) {
			t.Fatalf("hinted %s after %d.%d, but it is at %d.%d (%v):\n%s", hint, msn, part, gotMSN, gotPart, ok, body)
		}
		if gotMSN == msn+1 {
			boundaries++
			if boundaries == 3 {
				break
			}
		}
		pl = next
	}
	if boundaries < 3 {
		t.Errorf("the hints crossed %d segment boundaries in 40 parts", boundaries)
	}
}

// playlistOf fetches and parses a media playlist.
func (b *testBroadcast) playlistOf(url string) *hlstest.MediaPlaylist {
	b.t.Helper()
	pl, _ := b.fetchMedia(url)
	return pl
}
