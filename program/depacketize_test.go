package program

import (
	"bytes"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/rtp"
)

func TestCarriesSPS(t *testing.T) {
	for _, c := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"sps", []byte{0x67, 0x42}, true},
		{"idr", []byte{0x65, 0x88}, false},
		{"stap-a sps pps", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"stap-a pps then sps", []byte{0x78, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x67, 0x42}, true},
		{"stap-a without sps", []byte{0x78, 0x00, 0x02, 0x68, 0xce, 0x00, 0x01, 0x65}, false},
		{"stap-a size past the end", []byte{0x78, 0x00, 0x09, 0x67, 0x42}, false},
		{"fu-a idr start", []byte{0x7c, 0x85}, false},
		{"fu-a sps start", []byte{0x7c, 0x87}, true},
		{"fu-a sps middle", []byte{0x7c, 0x07}, false},
		{"empty", nil, false},
	} {
		if got := carriesSPS(c.p); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzCarriesSPS checks carriesSPS against gortsplib's RFC 6184 decoder on
// every payload that decoder takes as a whole access unit.
func FuzzCarriesSPS(f *testing.F) {
	for _, p := range [][]byte{{0x67, 0x42}, {0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, {0x7c, 0x87}, {0x65}} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		got := carriesSPS(p)
		// Compared: single NAL units and STAP-A. (The decoder also takes
		// Annex-B streams in a payload, with start codes.)
		if len(p) == 0 || p[0]&0x1f == 0 || p[0]&0x1f > 24 || bytes.Contains(p, []byte{0, 0, 1}) {
			return
		}
		dec := &rtph264.Decoder{PacketizationMode: 1}
		if err := dec.Init(); err != nil {
			t.Fatal(err)
		}
		au, err := dec.Decode(&rtp.Packet{Header: rtp.Header{Marker: true}, Payload: bytes.Clone(p)})
		if err != nil {
			return
		}
		want := false
		for _, n := range au {
			want = want || len(n) > 0 && n[0]&0x1f == 7
		}
		if got != want {
			t.Fatalf("carriesSPS(%x) = %v, the decoder found SPS: %v (%x)", p, got, want, au)
		}
	})
}
