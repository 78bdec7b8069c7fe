package hls

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// playlistVersion is EXT-X-VERSION: 6 covers EXT-X-MAP in a Media Playlist
// without EXT-X-I-FRAMES-ONLY (RFC 8216bis section 8); nothing here needs more.
const playlistVersion = 6

// renderMedia writes a Media Playlist (RFC 8216bis section 4.4) with the
// Low-Latency tags: parts within the last three target durations (section
// 4.4.4.9), a preload hint for the next part (section 4.4.5.3), blocking
// reload advertised (section 4.4.3.8) and a rendition report for every other
// rendition (section 4.4.5.4). URIs are relative, so the session and stream
// in the playlist's own path carry over to every resource.
func renderMedia(s *snapshot, cfg Config) []byte { return renderMediaAt(s, cfg, "") }

// renderMediaAt is renderMedia with every URI prefixed by base (the CDN
// folder of the stream, or "" for relative URIs).
func renderMediaAt(s *snapshot, cfg Config, base string) []byte {
	target := cfg.targetDuration()
	partTarget := cfg.PartDuration.Seconds()
	var b bytes.Buffer
	b.Grow(2048)
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%d\n", playlistVersion, target)
	// PART-HOLD-BACK is three Part Target Durations, HOLD-BACK three Target
	// Durations: the least the section 4.4.3.8 allows (and recommends).
	fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f,HOLD-BACK=%d\n", 3*partTarget, 3*target)
	fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%.3f\n", partTarget)
	listed := s.segs[min(s.first, len(s.segs)):]
	if len(listed) > 0 {
		fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", listed[0].msn)
	}
	fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", s.discSeq)

	// Section 4.4.4.9: parts more than three target durations from the end
	// of the playlist are removed. Parts are listed whole segments at a time
	// (a player counts a segment's parts from its first to find _HLS_part),
	// so the oldest segment with parts starts within three target durations.
	withParts := len(listed)
	var tail time.Duration
	for i := len(listed) - 1; i >= 0; i-- {
		if tail += listed[i].duration; tail > time.Duration(3*target)*time.Second {
			break
		}
		withParts = i
	}
	var init *initSegment
	for i, g := range listed {
		if len(g.parts) == 0 {
			continue
		}
		if g.discontinuity {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if g.init != init {
			init = g.init
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s%s-i%d.mp4\"\n", base, s.name, init.n)
		}
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", g.pdt.UTC().Format("2006-01-02T15:04:05.000Z"))
		if i >= withParts {
			for _, p := range g.parts {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%s,URI=\"%s%s\"", seconds(p.duration), base, partName(s.name, p.seq))
				if p.independent {
					b.WriteString(",INDEPENDENT=YES")
				}
				b.WriteByte('\n')
			}
		}
		if g.complete {
			fmt.Fprintf(&b, "#EXTINF:%s,\n%s%s-%d.m4s\n", seconds(g.duration), base, s.name, g.msn)
		}
	}
	if s.ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	} else if s.open {
		// The next part's name does not depend on the segment it will be
		// in, so the hinted resource always comes to exist.
		fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s%s\"\n", base, partName(s.name, s.nextPart))
	}
	for _, rr := range s.reports {
		// Other renditions' playlists are on the origin beside this one,
		// even when the media are on a CDN.
		fmt.Fprintf(&b, "#EXT-X-RENDITION-REPORT:URI=\"%s\",LAST-MSN=%d,LAST-PART=%d\n", rr.uri, rr.lastMSN, rr.lastPart)
	}
	return b.Bytes()
}

// seconds formats a duration as decimal seconds, as EXTINF and DURATION want.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(math.Round(d.Seconds()*1e5)/1e5, 'f', -1, 64)
}

// variant is one entry of a Multivariant Playlist.
type variant struct {
	uri       string
	bandwidth int
	average   int
	codecs    string
	width     int
	height    int
	frameRate float64
}

// renderMultivariant writes a Multivariant Playlist (RFC 8216bis section
// 4.4.6): one variant stream per rendition, every one carrying the same audio.
func renderMultivariant(vs []variant) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n", playlistVersion)
	for _, v := range vs {
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d", v.bandwidth)
		if v.average > 0 {
			fmt.Fprintf(&b, ",AVERAGE-BANDWIDTH=%d", v.average)
		}
		fmt.Fprintf(&b, ",CODECS=\"%s\"", v.codecs)
		if v.width > 0 {
			fmt.Fprintf(&b, ",RESOLUTION=%dx%d", v.width, v.height)
		}
		if v.frameRate > 0 {
			fmt.Fprintf(&b, ",FRAME-RATE=%.3f", v.frameRate)
		}
		b.WriteString("\n" + v.uri + "\n")
	}
	return b.Bytes()
}

// variantOf describes a rendition's latest snapshot, or reports false while
// it has no complete segment to measure. An audio-only rendition has no
// RESOLUTION or FRAME-RATE, and its CODECS name the audio alone.
func variantOf(s *snapshot, uri string) (variant, bool) {
	if (s.video == nil && s.audio == nil) || s.bandwidth == 0 {
		return variant{}, false
	}
	if s.video == nil {
		return variant{uri: uri, bandwidth: s.bandwidth, average: s.average, codecs: s.audio.RFC6381()}, true
	}
	codecs := []string{s.video.RFC6381()}
	if s.audio != nil {
		codecs = append(codecs, s.audio.RFC6381())
	}
	w, h := s.video.Resolution()
	return variant{uri: uri, bandwidth: s.bandwidth, average: s.average, codecs: strings.Join(codecs, ","),
		width: w, height: h, frameRate: s.frameRate}, true
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// gzipped compresses a playlist once for every client that accepts gzip
// (RFC 8216bis section 6.2.1).
func gzipped(body []byte) []byte {
	var b bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&b)
	w.Write(body)
	w.Close()
	gzipWriters.Put(w)
	return b.Bytes()
}
