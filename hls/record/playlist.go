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

// A recording taken over by another node after its node died goes on in a
// new part (storage.Recording.Part): the files of part 0 have the names
// below, those of part N > 0 the same names prefixed by "pN-", so that no
// node overwrites another's.

func initName(part, n int) string { return partPrefix(part) + fmt.Sprintf("init-%d.mp4", n) }
func segName(part, n int) string  { return partPrefix(part) + fmt.Sprintf("seg-%06d.m4s", n) }

func partPrefix(part int) string {
	if part == 0 {
		return ""
	}
	return fmt.Sprintf("p%d-", part)
}

// indexName is the object that tells what of part N reached the store:
// its journal's header and the entries, of every part up to N, whose
// files were uploaded. A node that finishes a recording whose node died
// reads the highest one.
func indexName(part int) string { return fmt.Sprintf(indexPrefix+"%d.jsonl", part) }

const indexPrefix = "journal-"

// entry is one media segment of a recording, as the journal keeps it.
type entry struct {
	File          string    `json:"file"`
	Part          int       `json:"part,omitempty"`
	Init          int       `json:"init"`
	Discontinuity bool      `json:"disc,omitempty"`
	DurationUS    int64     `json:"dur_us"`
	Bytes         int64     `json:"bytes"`
	PDT           time.Time `json:"pdt"`
}

func (e entry) duration() time.Duration { return time.Duration(e.DurationUS) * time.Microsecond }

// renderVOD writes the recording's Media Playlist: a VOD playlist (RFC
// 8216bis section 4.4.3.5) of fMP4 segments with their init sections
// (EXT-X-MAP), ended by EXT-X-ENDLIST. URIs are relative. Parts are joined
// with EXT-X-DISCONTINUITY, each with its own EXT-X-MAP.
func renderVOD(entries []entry) []byte {
	target := 1
	for _, e := range entries {
		// Section 4.4.3.1: every EXTINF, rounded, is at most the target.
		target = max(target, int(math.Round(e.duration().Seconds())))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", target)
	curMap := ""
	for i, e := range entries {
		disc := i > 0 && (e.Discontinuity || e.Part != entries[i-1].Part)
		if disc {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if m := initName(e.Part, e.Init); m != curMap {
			curMap = m
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s\"\n", curMap)
		}
		if i == 0 || disc {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", e.PDT.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		d := strconv.FormatFloat(math.Round(e.duration().Seconds()*1e5)/1e5, 'f', -1, 64)
		fmt.Fprintf(&b, "#EXTINF:%s,\n%s\n", d, e.File)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.Bytes()
}
