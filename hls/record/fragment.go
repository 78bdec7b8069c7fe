package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The decode times of a fragmented MP4 segment (ISO/IEC 14496-12): each
// fragment is a moof box, whose traf boxes (one a track) hold a tfhd (the
// track's ID, default sample duration), a tfdt (the decode time of the
// track's first sample in the fragment, baseMediaDecodeTime, in the track's
// timescale) and trun boxes (the samples, their durations). A continued
// part's segments have their tfdt values moved (join.go); these functions
// read and patch them in place, on bytes that may come from the store.

// errFragment is a segment whose boxes cannot be read.
var errFragment = errors.New("record: malformed fMP4 fragment")

// trackSpan is the decode times of one track in a segment, in its
// timescale's ticks: start is its first tfdt, end its last tfdt plus the
// durations of that fragment's samples.
type trackSpan struct{ start, end uint64 }

// traf is what one track fragment says: at is the offset in the segment of
// its tfdt's value (-1 if it has none), v1 whether that is 64 bits.
type traf struct {
	track    uint32
	at       int
	v1       bool
	base     uint64
	duration uint64
}

// box reads the box header at b[off:]: its type and where its payload
// starts and ends.
func box(b []byte, off int) (typ string, body, end int, err error) {
	if len(b)-off < 8 {
		return "", 0, 0, errFragment
	}
	size := uint64(binary.BigEndian.Uint32(b[off:]))
	typ, body = string(b[off+4:off+8]), off+8
	switch size {
	case 0: // to the end
		size = uint64(len(b) - off)
	case 1: // 64-bit size
		if len(b)-off < 16 {
			return "", 0, 0, errFragment
		}
		size, body = binary.BigEndian.Uint64(b[off+8:]), off+16
	}
	if size < uint64(body-off) || size > uint64(len(b)-off) {
		return "", 0, 0, errFragment
	}
	return typ, body, off + int(size), nil
}

// children calls fn for each box in b[from:to].
func children(b []byte, from, to int, fn func(typ string, body, end int) error) error {
	for off := from; off < to; {
		typ, body, end, err := box(b[:to], off)
		if err != nil {
			return err
		}
		if err := fn(typ, body, end); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// trafs calls fn for every track fragment of seg, in order.
func trafs(seg []byte, fn func(traf) error) error {
	return children(seg, 0, len(seg), func(typ string, body, end int) error {
		if typ != "moof" {
			return nil // mdat, styp, sidx...
		}
		return children(seg, body, end, func(typ string, body, end int) error {
			if typ != "traf" {
				return nil
			}
			t, err := readTraf(seg, body, end)
			if err != nil {
				return err
			}
			return fn(t)
		})
	})
}

// readTraf reads the track fragment in seg[from:to].
func readTraf(seg []byte, from, to int) (traf, error) {
	t := traf{at: -1}
	var defaultDuration uint64
	var haveDefault, haveTfhd bool
	var runs [][2]int
	err := children(seg, from, to, func(typ string, body, end int) error {
		b := seg[body:end]
		switch typ {
		case "tfhd":
			if len(b) < 8 {
				return errFragment
			}
			flags := binary.BigEndian.Uint32(b) & 0xffffff
			t.track, haveTfhd = binary.BigEndian.Uint32(b[4:]), true
			off := 8
			for _, f := range []struct {
				flag uint32
				size int
			}{{0x01, 8}, {0x02, 4}} { // base data offset, sample description index
				if flags&f.flag != 0 {
					off += f.size
				}
			}
			if flags&0x08 != 0 {
				if len(b) < off+4 {
					return errFragment
				}
				defaultDuration, haveDefault = uint64(binary.BigEndian.Uint32(b[off:])), true
			}
		case "tfdt":
			if len(b) < 8 || b[0] > 1 || b[0] == 1 && len(b) < 12 {
				return errFragment
			}
			t.at, t.v1 = body+4, b[0] == 1
			if t.v1 {
				t.base = binary.BigEndian.Uint64(b[4:])
			} else {
				t.base = uint64(binary.BigEndian.Uint32(b[4:]))
			}
		case "trun":
			runs = append(runs, [2]int{body, end})
		}
		return nil
	})
	if err != nil {
		return traf{}, err
	}
	if !haveTfhd {
		return traf{}, fmt.Errorf("%w: traf without tfhd", errFragment)
	}
	for _, r := range runs {
		d, err := runDuration(seg[r[0]:r[1]], defaultDuration, haveDefault)
		if err != nil {
			return traf{}, err
		}
		if t.duration+d < t.duration {
			return traf{}, fmt.Errorf("%w: durations overflow", errFragment)
		}
		t.duration += d
	}
	if t.base+t.duration < t.base {
		return traf{}, fmt.Errorf("%w: decode times overflow", errFragment)
	}
	return t, nil
}

// runDuration sums the sample durations of a trun box's payload.
func runDuration(b []byte, defaultDuration uint64, haveDefault bool) (uint64, error) {
	if len(b) < 8 {
		return 0, errFragment
	}
	flags := binary.BigEndian.Uint32(b) & 0xffffff
	count := uint64(binary.BigEndian.Uint32(b[4:]))
	off := 8
	if flags&0x01 != 0 { // data offset
		off += 4
	}
	if flags&0x04 != 0 { // first sample flags
		off += 4
	}
	size := 0
	for _, f := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&f != 0 {
			size += 4
		}
	}
	if off > len(b) || size > 0 && count > uint64(len(b)-off)/uint64(size) {
		return 0, errFragment
	}
	if flags&0x100 == 0 {
		if !haveDefault {
			return 0, fmt.Errorf("%w: no sample durations", errFragment)
		}
		return count * defaultDuration, nil
	}
	var d uint64
	for i := uint64(0); i < count; i++ {
		d += uint64(binary.BigEndian.Uint32(b[off+int(i)*size:]))
	}
	return d, nil
}

// spans returns the decode times of each track of a segment made of
// chunks (its fragments, or the whole file).
func spans(chunks ...[]byte) (map[uint32]trackSpan, error) {
	out := map[uint32]trackSpan{}
	for _, c := range chunks {
		err := trafs(c, func(t traf) error {
			if t.at < 0 {
				return fmt.Errorf("%w: traf without tfdt", errFragment)
			}
			s, ok := out[t.track]
			if !ok {
				s.start = t.base
			}
			s.start = min(s.start, t.base)
			s.end = max(s.end, t.base+t.duration)
			out[t.track] = s
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// shift adds off[track] to every tfdt of seg, in place, for the tracks in
// off. It fails, leaving seg as it was, where a time would fall below zero
// or out of its field.
func shift(seg []byte, off map[uint32]int64) error {
	var todo []traf
	err := trafs(seg, func(t traf) error {
		d, ok := off[t.track]
		if !ok {
			return nil
		}
		if t.at < 0 {
			return fmt.Errorf("%w: traf without tfdt", errFragment)
		}
		limit := uint64(math.MaxUint32)
		if t.v1 {
			limit = math.MaxUint64
		}
		switch {
		case d < 0 && t.base < uint64(-d):
			return fmt.Errorf("record: track %d: decode time %d moved by %d is negative", t.track, t.base, d)
		case d > 0 && (limit-t.base < uint64(d) || math.MaxUint64-t.base-t.duration < uint64(d)):
			return fmt.Errorf("record: track %d: decode time %d moved by %d overflows", t.track, t.base, d)
		}
		if d < 0 {
			t.base -= uint64(-d)
		} else {
			t.base += uint64(d)
		}
		todo = append(todo, t)
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range todo {
		if t.v1 {
			binary.BigEndian.PutUint64(seg[t.at:], t.base)
		} else {
			binary.BigEndian.PutUint32(seg[t.at:], uint32(t.base))
		}
	}
	return nil
}
