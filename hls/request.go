package hls

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"lectern/program"
)

// resourceKind is what an HLS file name names.
type resourceKind int

const (
	resPlaylist resourceKind = iota
	resInit
	resSegment
	resPart
)

// resource is a parsed file name of a stream: v<rendition>.m3u8 (media
// playlist), v<r>-i<n>.mp4 (init segment n), v<r>-<msn>.m4s (segment),
// v<r>-p<n>.m4s (part n of the rendition). Parts are numbered through the
// whole stream, not within their segment, so that the preload hint can name
// the next part before anyone knows whether a keyframe will make it the
// first of a new segment.
type resource struct {
	kind      resourceKind
	rendition int
	n         uint64 // init number, media sequence number or part number
}

// maxPartIndex bounds _HLS_part from outside; a segment has far fewer parts.
const maxPartIndex = 1000

func parseResource(name string) (resource, error) {
	var r resource
	bad := fmt.Errorf("%w: %q", ErrNotFound, name)
	if len(name) < 3 || name[0] != 'v' || name[1] < '0' || name[1] >= '0'+program.MaxRenditions {
		return r, bad
	}
	r.rendition = int(name[1] - '0')
	rest := name[2:]
	switch {
	case rest == ".m3u8":
		r.kind = resPlaylist
		return r, nil
	case strings.HasPrefix(rest, "-i") && strings.HasSuffix(rest, ".mp4"):
		n, ok := canonical(rest[2 : len(rest)-4])
		if !ok {
			return r, bad
		}
		r.kind, r.n = resInit, n
		return r, nil
	case strings.HasPrefix(rest, "-p") && strings.HasSuffix(rest, ".m4s"):
		n, ok := canonical(rest[2 : len(rest)-4])
		if !ok {
			return r, bad
		}
		r.kind, r.n = resPart, n
		return r, nil
	case strings.HasPrefix(rest, "-") && strings.HasSuffix(rest, ".m4s"):
		n, ok := canonical(rest[1 : len(rest)-4])
		if !ok {
			return r, bad
		}
		r.kind, r.n = resSegment, n
		return r, nil
	}
	return r, bad
}

// canonical parses a number in a file name, which this server writes without
// leading zeros: any other spelling would be another URL for the same bytes.
func canonical(s string) (uint64, bool) {
	if len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	return number(s)
}

// number parses a decimal-integer (RFC 8216bis section 4.2): digits only.
func number(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// directives are the Delivery Directives of a playlist request (RFC 8216bis
// section 6.2.5): block until segment msn (part < 0) or part (msn, part).
type directives struct {
	block bool
	msn   uint64
	part  int
}

// parseDirectives reads _HLS_msn and _HLS_part from a raw query. Other
// parameters (including _HLS_skip, which this server does not advertise) are
// ignored, as section 6.2.5.1 requires.
func parseDirectives(rawQuery string) (directives, error) {
	d := directives{part: -1}
	if !strings.Contains(rawQuery, "_HLS_") {
		return d, nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return d, fmt.Errorf("%w: malformed query", ErrBadRequest)
	}
	msn, hasMSN := q["_HLS_msn"]
	part, hasPart := q["_HLS_part"]
	switch {
	case hasPart && !hasMSN:
		// Section 6.2.5.2: _HLS_part without _HLS_msn is a Bad Request.
		return d, fmt.Errorf("%w: _HLS_part needs _HLS_msn", ErrBadRequest)
	case !hasMSN:
		return d, nil
	case len(msn) != 1 || (hasPart && len(part) != 1):
		return d, fmt.Errorf("%w: _HLS_msn and _HLS_part may appear once", ErrBadRequest)
	}
	n, ok := number(msn[0])
	if !ok {
		return d, fmt.Errorf("%w: _HLS_msn is not a decimal-integer", ErrBadRequest)
	}
	d.block, d.msn = true, n
	if hasPart {
		p, ok := number(part[0])
		if !ok || p > maxPartIndex {
			return d, fmt.Errorf("%w: _HLS_part is not a decimal-integer below %d", ErrBadRequest, maxPartIndex+1)
		}
		d.part = int(p)
	}
	return d, nil
}

// String is the resource's file name.
func (r resource) String() string {
	v := "v" + strconv.Itoa(r.rendition)
	switch r.kind {
	case resPlaylist:
		return v + ".m3u8"
	case resInit:
		return v + "-i" + strconv.FormatUint(r.n, 10) + ".mp4"
	case resSegment:
		return v + "-" + strconv.FormatUint(r.n, 10) + ".m4s"
	}
	return partName(v, r.n)
}

// partName is the file name of part n of the rendition named v.
func partName(v string, n uint64) string { return v + "-p" + strconv.FormatUint(n, 10) + ".m4s" }
