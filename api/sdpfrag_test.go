package api

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const (
	hostCand  = "candidate:1 1 udp 2130706431 192.0.2.10 50000 typ host"
	srflxCand = "candidate:842163049 1 udp 1677729535 198.51.100.7 61000 typ srflx raddr 192.0.2.10 rport 50000 generation 0 ufrag Ab3d network-cost 999"
)

// sdpFragCases are fragments as WHIP and WHEP clients send them (RFC 8840
// section 9, RFC 9725 section 4.3.1) and broken ones; they also seed FuzzSDPFrag.
var sdpFragCases = []struct {
	name, body string
	// candidates is how many are accepted, or -1 for a refused fragment.
	candidates int
	ufrag      string
	end        bool
}{
	{"RFC 8840 shape", "a=ice-options:trickle ice2\r\na=ice-ufrag:Ab3d\r\na=ice-pwd:0123456789abcdefghijKL\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=" + hostCand + "\r\na=" + srflxCand + "\r\na=end-of-candidates\r\n", 2, "Ab3d", true},
	{"bare lines", "a=mid:0\na=" + hostCand + "\n", 1, "", false},
	{"TCP, IPv6 and mDNS", "a=candidate:2 1 tcp 1518280447 2001:db8::1 9 typ host tcptype passive\r\na=candidate:3 1 udp 2122260223 0b5c1b8e-5e4e-4b1f-9d6a-1c2f3e4d5a6b.local 54321 typ host\r\n", 2, "", false},
	{"end of candidates only", "a=end-of-candidates\r\n", 0, "", true},
	{"empty", "", 0, "", false},
	{"media-level lines", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\na=" + hostCand + "\r\n", 1, "", false},
	{"not SDP", "garbage", -1, "", false},
	{"session description line", "v=0\r\n", -1, "", false},
	{"too few fields", "a=candidate:1 1 udp 2130706431 192.0.2.10 typ host\r\n", -1, "", false},
	{"port out of range", "a=candidate:1 1 udp 2130706431 192.0.2.10 70000 typ host\r\n", -1, "", false},
	{"no typ", "a=candidate:1 1 udp 2130706431 192.0.2.10 9 kind host\r\n", -1, "", false},
	{"odd extension", "a=candidate:1 1 udp 2130706431 192.0.2.10 9 typ host generation\r\n", -1, "", false},
	{"double space", "a=candidate:1 1 udp 2130706431  192.0.2.10 9 typ host\r\n", -1, "", false},
	{"control character", "a=candidate:1 1 udp 2130706431 192.0.2.10 9 typ host\x00\r\n", -1, "", false},
	{"short ufrag", "a=ice-ufrag:ab\r\n", -1, "", false},
	{"two ufrags", "a=ice-ufrag:Ab3d\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=ice-ufrag:Zz9y\r\n", -1, "", false},
	{"mid with a space", "a=mid:a b\r\n", -1, "", false},
	{"too many candidates", strings.Repeat("a="+hostCand+"\r\n", maxFragCandidates+1), -1, "", false},
}

func TestParseSDPFrag(t *testing.T) {
	for _, tc := range sdpFragCases {
		f, err := parseSDPFrag(tc.body)
		if tc.candidates < 0 {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != codeInvalidSDP {
				t.Errorf("%s: error %v, want 400 invalid_sdp", tc.name, err)
			}
			continue
		}
		if err != nil || len(f.candidates) != tc.candidates || f.ufrag != tc.ufrag || f.end != tc.end {
			t.Errorf("%s: %+v, %v; want %d candidates, ufrag %q, end %v", tc.name, f, err, tc.candidates, tc.ufrag, tc.end)
		}
	}
	f, _ := parseSDPFrag(sdpFragCases[0].body)
	if c := f.candidates[1]; c.Candidate != srflxCand || c.SDPMid == nil || *c.SDPMid != "0" {
		t.Errorf("candidate %q in mid %v", c.Candidate, c.SDPMid)
	}
}

// FuzzSDPFrag checks that any fragment is either refused with a 400 or parsed
// into well-formed candidates that survive a round trip.
func FuzzSDPFrag(f *testing.F) {
	for _, tc := range sdpFragCases {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		frag, err := parseSDPFrag(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if len(frag.candidates) > maxFragCandidates {
			t.Fatalf("%d candidates accepted", len(frag.candidates))
		}
		for _, c := range frag.candidates {
			v, ok := strings.CutPrefix(c.Candidate, "candidate:")
			if !ok || !validCandidate(v) {
				t.Fatalf("accepted candidate %q", c.Candidate)
			}
		}
		again, err := parseSDPFrag(formatFrag(frag))
		if err != nil || !reflect.DeepEqual(again, frag) {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", body, again, err, frag)
		}
	})
}

// formatFrag writes a parsed fragment back out, one media section per run of
// candidates of one mid.
func formatFrag(f sdpFrag) string {
	var b strings.Builder
	if f.ufrag != "" {
		b.WriteString("a=ice-ufrag:" + f.ufrag + "\r\n")
	}
	if f.pwd != "" {
		b.WriteString("a=ice-pwd:" + f.pwd + "\r\n")
	}
	for i, c := range f.candidates {
		if i == 0 || !reflect.DeepEqual(c.SDPMid, f.candidates[i-1].SDPMid) {
			b.WriteString("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n")
			if c.SDPMid != nil {
				b.WriteString("a=mid:" + *c.SDPMid + "\r\n")
			}
		}
		b.WriteString("a=" + c.Candidate + "\r\n")
	}
	if f.end {
		b.WriteString("a=end-of-candidates\r\n")
	}
	return b.String()
}
