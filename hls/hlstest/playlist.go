package hlstest

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MediaPlaylist is what a test needs to know of an LL-HLS Media Playlist.
type MediaPlaylist struct {
	Version, TargetDuration       int
	PartTarget                    float64
	PartHoldBack, HoldBack        float64
	CanBlockReload                bool
	MediaSequence, DiscontinuityN uint64
	Segments                      []Segment // complete segments
	// Open are the parts of the segment being written; Hint is the
	// EXT-X-PRELOAD-HINT URI and HintType its TYPE.
	Open     []Part
	Hint     string
	HintType string
	Ended    bool
	// Reports are the EXT-X-RENDITION-REPORT tags.
	Reports []RenditionReport
}

// RenditionReport is an EXT-X-RENDITION-REPORT.
type RenditionReport struct {
	URI      string
	LastMSN  uint64
	LastPart int
}

// Segment is a complete segment of a Media Playlist.
type Segment struct {
	MSN           uint64
	Duration      float64
	URI, Map      string
	Discontinuity bool
	PDT           time.Time
	Parts         []Part
}

// Part is an EXT-X-PART.
type Part struct {
	Duration    float64
	URI         string
	Independent bool
}

// ParseMedia parses a Media Playlist.
func ParseMedia(body []byte) (*MediaPlaylist, error) {
	p := &MediaPlaylist{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	var cur Segment
	var mapURI string
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			if line != "#EXTM3U" {
				return nil, fmt.Errorf("no #EXTM3U")
			}
			first = false
			continue
		}
		tag, value, _ := strings.Cut(line, ":")
		attrs := attributes(value)
		var err error
		switch tag {
		case "#EXT-X-VERSION":
			p.Version, err = strconv.Atoi(value)
		case "#EXT-X-TARGETDURATION":
			p.TargetDuration, err = strconv.Atoi(value)
		case "#EXT-X-PART-INF":
			p.PartTarget, err = strconv.ParseFloat(attrs["PART-TARGET"], 64)
		case "#EXT-X-SERVER-CONTROL":
			p.CanBlockReload = attrs["CAN-BLOCK-RELOAD"] == "YES"
			p.PartHoldBack, _ = strconv.ParseFloat(attrs["PART-HOLD-BACK"], 64)
			p.HoldBack, _ = strconv.ParseFloat(attrs["HOLD-BACK"], 64)
		case "#EXT-X-MEDIA-SEQUENCE":
			p.MediaSequence, err = strconv.ParseUint(value, 10, 64)
		case "#EXT-X-DISCONTINUITY-SEQUENCE":
			p.DiscontinuityN, err = strconv.ParseUint(value, 10, 64)
		case "#EXT-X-MAP":
			mapURI = attrs["URI"]
		case "#EXT-X-PROGRAM-DATE-TIME":
			cur.PDT, err = time.Parse(time.RFC3339Nano, value)
		case "#EXT-X-DISCONTINUITY":
			cur.Discontinuity = true
		case "#EXT-X-PART":
			d, perr := strconv.ParseFloat(attrs["DURATION"], 64)
			err = perr
			cur.Parts = append(cur.Parts, Part{Duration: d, URI: attrs["URI"], Independent: attrs["INDEPENDENT"] == "YES"})
		case "#EXTINF":
			d, _, _ := strings.Cut(value, ",")
			cur.Duration, err = strconv.ParseFloat(d, 64)
		case "#EXT-X-PRELOAD-HINT":
			p.Hint, p.HintType = attrs["URI"], attrs["TYPE"]
		case "#EXT-X-RENDITION-REPORT":
			r := RenditionReport{URI: attrs["URI"]}
			var perr error
			if r.LastMSN, err = strconv.ParseUint(attrs["LAST-MSN"], 10, 64); err == nil {
				r.LastPart, perr = strconv.Atoi(attrs["LAST-PART"])
				err = perr
			}
			p.Reports = append(p.Reports, r)
		case "#EXT-X-ENDLIST":
			p.Ended = true
		default:
			if line != "" && !strings.HasPrefix(line, "#") {
				cur.URI, cur.Map = line, mapURI
				cur.MSN = p.MediaSequence + uint64(len(p.Segments))
				p.Segments = append(p.Segments, cur)
				cur = Segment{}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", line, err)
		}
	}
	if first {
		return nil, fmt.Errorf("empty playlist")
	}
	p.Open = cur.Parts
	return p, sc.Err()
}

// attributes parses an attribute list (RFC 8216bis section 4.2).
func attributes(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			v, rest = rest[1:end+1], rest[end+2:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
		}
		out[name] = v
		s = strings.TrimPrefix(rest, ",")
	}
	return out
}

// PartURI is the URI of part (msn, part), or "" if it is not listed.
func (p *MediaPlaylist) PartURI(msn uint64, part int) string {
	var parts []Part
	switch {
	case msn < p.MediaSequence:
		return ""
	case msn < p.MediaSequence+uint64(len(p.Segments)):
		parts = p.Segments[msn-p.MediaSequence].Parts
	case msn == p.MediaSequence+uint64(len(p.Segments)):
		parts = p.Open
	}
	if part < 0 || part >= len(parts) {
		return ""
	}
	return parts[part].URI
}

// LastPart is the (msn, part) of the last part listed; ok is false if none is.
func (p *MediaPlaylist) LastPart() (msn uint64, part int, ok bool) {
	if len(p.Open) > 0 {
		return p.MediaSequence + uint64(len(p.Segments)), len(p.Open) - 1, true
	}
	if n := len(p.Segments); n > 0 && len(p.Segments[n-1].Parts) > 0 {
		return p.MediaSequence + uint64(n-1), len(p.Segments[n-1].Parts) - 1, true
	}
	return 0, 0, false
}

// NextPart is the (msn, part) of the part after the last one listed.
func (p *MediaPlaylist) NextPart() (msn uint64, part int) {
	return p.MediaSequence + uint64(len(p.Segments)), len(p.Open)
}

// CheckLowLatency returns what breaks the LL-HLS rules of RFC 8216bis that
// Lectern promises: PART-INF, SERVER-CONTROL with CAN-BLOCK-RELOAD and a
// PART-HOLD-BACK of at least three part targets, a preload hint, parts no
// longer than the part target, segments within the target duration.
func (p *MediaPlaylist) CheckLowLatency() []string {
	var bad []string
	if p.PartTarget <= 0 {
		bad = append(bad, "no EXT-X-PART-INF PART-TARGET")
	}
	if !p.CanBlockReload {
		bad = append(bad, "no CAN-BLOCK-RELOAD=YES")
	}
	if p.PartHoldBack < 3*p.PartTarget-1e-9 {
		bad = append(bad, fmt.Sprintf("PART-HOLD-BACK %.3f < 3 x PART-TARGET %.3f", p.PartHoldBack, p.PartTarget))
	}
	if p.HoldBack < 3*float64(p.TargetDuration) {
		bad = append(bad, fmt.Sprintf("HOLD-BACK %.3f < 3 x TARGETDURATION", p.HoldBack))
	}
	if p.Hint == "" && !p.Ended {
		bad = append(bad, "no EXT-X-PRELOAD-HINT")
	}
	var parts int
	check := func(ps []Part) {
		for _, x := range ps {
			parts++
			if x.Duration > p.PartTarget+1e-9 {
				bad = append(bad, fmt.Sprintf("part %s lasts %.5f > PART-TARGET %.3f", x.URI, x.Duration, p.PartTarget))
			}
		}
	}
	for _, s := range p.Segments {
		if math.Round(s.Duration) > float64(p.TargetDuration) {
			bad = append(bad, fmt.Sprintf("segment %s lasts %.3f > TARGETDURATION %d", s.URI, s.Duration, p.TargetDuration))
		}
		check(s.Parts)
	}
	check(p.Open)
	if parts == 0 {
		bad = append(bad, "no EXT-X-PART")
	}
	return bad
}
