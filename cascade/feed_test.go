package cascade

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// packet returns a marshalled RTP packet.
func packet(t testing.TB, seq uint16, ts, ssrc uint32) []byte {
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: []byte{1, 2, 3}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSeqMapAcrossPulls: a layer pulled, dropped and pulled again is one
// stream: sequence numbers go on by one, timestamps by the time between,
// the SSRC is the layer's; NACKs map to the current pull's numbers and
// never to an earlier pull's.
func TestSeqMapAcrossPulls(t *testing.T) {
	cases := []struct {
		name             string
		first, second    uint16 // each pull's first sequence number
		firstTS, secondT uint32
	}{
		{"ordinary", 100, 40000, 1000, 9000},
		{"wrapping", 65530, 3, 4294967000, 12},
		{"second below first", 5000, 10, 50, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m seqMap
			now := time.Unix(1000, 0)
			m.fresh = true
			var out []uint16
			for i := range uint16(10) {
				b := packet(t, c.first+i, c.firstTS+uint32(i)*3000, 77)
				if !m.rewrite(b, 42, 90000, now) {
					t.Fatal("valid packet refused")
				}
				out = append(out, binary.BigEndian.Uint16(b[2:4]))
				if ssrc := binary.BigEndian.Uint32(b[8:12]); ssrc != 42 {
					t.Fatalf("SSRC %d, want the layer's 42", ssrc)
				}
			}
			if src, ok := m.source(out[3]); !ok || src != c.first+3 {
				t.Fatalf("NACK of %d maps to %d %v, want %d", out[3], src, ok, c.first+3)
			}
			// The layer is dropped, then pulled again half a second later.
			m.fresh = true
			if _, ok := m.source(out[9]); ok {
				t.Fatal("a NACK between pulls maps to a packet")
			}
			later := now.Add(500 * time.Millisecond)
			b := packet(t, c.second, c.secondT, 99)
			m.rewrite(b, 42, 90000, later)
			if got := binary.BigEndian.Uint16(b[2:4]); got != out[9]+1 {
				t.Fatalf("first packet of the second pull is %d, want %d", got, out[9]+1)
			}
			wantTS := c.firstTS + 9*3000 + 45000
			if got := binary.BigEndian.Uint32(b[4:8]); got != wantTS {
				t.Fatalf("timestamp %d, want %d (half a second on)", got, wantTS)
			}
			if _, ok := m.source(out[9]); ok {
				t.Fatal("a NACK for the first pull's packet maps into the second pull")
			}
			if src, ok := m.source(out[9] + 1); !ok || src != c.second {
				t.Fatalf("NACK of the second pull's first packet maps to %d %v, want %d", src, ok, c.second)
			}
		})
	}
}

// FuzzSeqMap: whatever arrives from the owner, rewrite never panics, refuses
// what is not RTP version 2, and a valid packet keeps its length and gets
// the layer's SSRC.
func FuzzSeqMap(f *testing.F) {
	f.Add(packet(f, 1, 2, 3), true)
	f.Add([]byte{0x80, 0, 0}, false)
	f.Add(packet(f, 65535, 4294967295, 1), true)
	f.Fuzz(func(t *testing.T, b []byte, fresh bool) {
		var m seqMap
		m.fresh = fresh
		n := len(b)
		c := append([]byte(nil), b...)
		ok := m.rewrite(c, 42, 90000, time.Unix(1, 0))
		if ok != (n >= 12 && b[0]>>6 == 2) {
			t.Fatalf("rewrite of %x: %v", b, ok)
		}
		if len(c) != n {
			t.Fatal("length changed")
		}
		if ok && binary.BigEndian.Uint32(c[8:12]) != 42 {
			t.Fatal("SSRC not the layer's")
		}
		m.source(uint16(n))
	})
}
