package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"
)

// maxFragCandidates bounds the candidates of one trickle fragment; an agent
// gathers a few per network interface.
const maxFragCandidates = 100

// sdpFrag is what a trickle-ICE SDP fragment carries (RFC 8840 section 9.2,
// as WHIP uses it in RFC 9725 section 4.3).
type sdpFrag struct {
	// ufrag and pwd are the ICE credentials the fragment names (RFC 8839
	// section 5.4), or empty.
	ufrag, pwd string
	candidates []webrtc.ICECandidateInit
	// end is set by a=end-of-candidates (RFC 8840 section 8).
	end bool
}

// parseSDPFrag reads a fragment: session-level ICE attributes, then media
// sections (m=) whose a=mid names the section the a=candidate lines after it
// belong to. Attributes it does not need are skipped; lines that are not SDP,
// malformed candidates and conflicting credentials are refused with an *Error.
func parseSDPFrag(body string) (sdpFrag, error) {
	var f sdpFrag
	var mid *string
	for n, line := range strings.Split(body, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		bad := func(why string) (sdpFrag, error) {
			return sdpFrag{}, errorf(http.StatusBadRequest, codeInvalidSDP, "fragment line %d: %s: %q", n+1, why, clip(line))
		}
		typ, value, ok := strings.Cut(line, "=")
		if !ok || len(typ) != 1 {
			return bad("not an SDP line")
		}
		switch typ {
		case "m":
			mid = nil // a new media section; its a=mid follows
			continue
		case "c", "b", "i", "k":
			continue // media-level lines RFC 4566 allows here
		case "a":
		default:
			return bad("not a line of a fragment")
		}
		name, val, _ := strings.Cut(value, ":")
		switch name {
		case "mid":
			if !isToken(val) {
				return bad("invalid mid")
			}
			m := val
			mid = &m
		case "ice-ufrag", "ice-pwd":
			// ufrag is 4 to 256 ice-chars, pwd 22 to 256 (RFC 8839 section 5.4).
			least, field := 4, &f.ufrag
			if name == "ice-pwd" {
				least, field = 22, &f.pwd
			}
			if len(val) < least || len(val) > 256 || !isICEChars(val) {
				return bad("invalid " + name)
			}
			if *field != "" && *field != val {
				return bad("a second, different " + name)
			}
			*field = val
		case "candidate":
			if len(f.candidates) == maxFragCandidates {
				return bad("more than " + strconv.Itoa(maxFragCandidates) + " candidates")
			}
			if !validCandidate(val) {
				return bad("invalid candidate")
			}
			f.candidates = append(f.candidates, webrtc.ICECandidateInit{Candidate: "candidate:" + val, SDPMid: mid})
		case "end-of-candidates":
			f.end = true
		}
	}
	return f, nil
}

// validCandidate checks a candidate attribute's value against RFC 8839 section
// 5.1: foundation component-id transport priority connection-address port
// "typ" cand-type, then pairs (raddr, rport and extensions).
func validCandidate(v string) bool {
	fs := strings.Split(v, " ")
	if len(fs) < 8 || len(fs)%2 != 0 || fs[6] != "typ" {
		return false
	}
	for _, f := range fs {
		if f == "" || !isVisible(f) {
			return false
		}
	}
	return len(fs[0]) <= 32 && isICEChars(fs[0]) &&
		isDigits(fs[1], 3) && isToken(fs[2]) && isDigits(fs[3], 10) &&
		validPort(fs[5]) && isToken(fs[7])
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return isDigits(s, 5) && err == nil && n <= 65535
}

// isDigits reports whether s is 1 to most ASCII digits.
func isDigits(s string, most int) bool {
	if s == "" || len(s) > most {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isICEChars reports whether s is ice-chars: ALPHA / DIGIT / "+" / "/".
func isICEChars(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return s != ""
}

// isToken reports whether s is a non-empty SDP token (RFC 4566 section 9).
func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`{|}~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// isVisible reports whether s is printable ASCII without spaces.
func isVisible(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// clip shortens a client's line for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// iceUfrag returns the first ICE username fragment of an SDP description.
func iceUfrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}
