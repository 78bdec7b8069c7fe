package record

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Names of a recording's files, in the spool and in the object store.
const (
	playlistName = "index.m3u8"
	journalName  = "journal.jsonl"
)

func initName(n int) string { return fmt.Sprintf("init-%d.mp4", n) }
func segName(n int) string  { return fmt.Sprintf("seg-%06d.m4s", n) }

// entry is one media segment of a recording, as the journal keeps it.
type entry struct {
	File          string    `json:"file"`
	Init          int       `json:"init"`
	Discontinuity bool      `json:"disc,omitempty"`
	DurationUS    int64     `json:"dur_us"`
	Bytes         int64     `json:"bytes"`
	PDT           time.Time `json:"pdt"`
}

func (e entry) duration() time.Duration { return time.Duration(e.DurationUS) * time.Microsecond }

// renderVOD writes the recording's Media Playlist: a VOD playlist (RFC
// 8216bis section 4.4.3.5) of fMP4 segments with their init sections
// (EXT-X-MAP), ended by EXT-X-ENDLIST. URIs are relative.
func renderVOD(entries []entry) []byte {
	target := 1
	for _, e := range entries {
		// Section 4.4.3.1: every EXTINF, rounded, is at most the target.
		target = max(target, int(math.Round(e.duration().Seconds())))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", target)
	initN := 0
	for i, e := range entries {
		if e.Discontinuity && i > 0 {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if e.Init != initN {
			initN = e.Init
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s\"\n", initName(initN))
		}
		if i == 0 || e.Discontinuity {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", e.PDT.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		d := strconv.FormatFloat(math.Round(e.duration().Seconds()*1e5)/1e5, 'f', -1, 64)
		fmt.Fprintf(&b, "#EXTINF:%s,\n%s\n", d, e.File)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.Bytes()
}
