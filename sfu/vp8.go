package sfu

// Continuous VP8 picture numbers for each subscriber. Each simulcast encoding
// numbers its frames on its own (the picture ID, of 7 or 15 bits, and
// TL0PICIDX, RFC 7741 section 4.2), and a receiver orders frames by those
// numbers: libwebrtc drops a frame whose picture ID is not newer than the
// last one it decoded, and takes a reference older than that as decoded.
// Forwarded as they come, a switch to a layer whose numbers are behind the
// old layer's had its keyframe dropped and its delta frames decoded on the
// old layer's pictures: a corrupted picture at the old size until the next
// keyframe, which the netlab's viewer showed for 15 to 20 s at a time. So a
// subscriber's stream renumbers both to continue from the last ones sent, as
// it does sequence numbers and timestamps.

// vp8Numbers is one subscriber's renumbering of a VP8 track, guarded by the
// downTrack's mu.
type vp8Numbers struct {
	// on is set for a VP8 track when the downTrack is made.
	on bool
	// seen is set once a packet with numbers was sent; lastPic and lastTl0
	// are the newest sent (renumbered).
	seen    bool
	lastPic uint16
	lastTl0 uint8
	// picOff and tl0Off are added to the source layer's numbers.
	picOff uint16
	tl0Off uint8
}

// vp8Fields returns the offsets of the picture ID and TL0PICIDX in a VP8
// payload descriptor (0 when absent) and whether the picture ID has 15 bits.
func vp8Fields(p []byte) (pic, tl0 int, long bool) {
	if len(p) < 2 || p[0]&0x80 == 0 {
		return 0, 0, false
	}
	ext, i := p[1], 2
	if ext&0x80 != 0 {
		if len(p) <= i {
			return 0, 0, false
		}
		pic, long = i, p[i]&0x80 != 0
		i++
		if long {
			i++
		}
	}
	if ext&0x40 != 0 {
		tl0 = i
		i++
	}
	if i > len(p) {
		return 0, 0, false
	}
	return pic, tl0, long
}

// picMask is the picture ID's range: 15 or 7 bits.
func picMask(long bool) uint16 {
	if long {
		return 0x7fff
	}
	return 0x7f
}

func readPic(p []byte, at int, long bool) uint16 {
	if long {
		return uint16(p[at]&0x7f)<<8 | uint16(p[at+1])
	}
	return uint16(p[at] & 0x7f)
}

func writePic(p []byte, at int, long bool, id uint16) {
	if long {
		p[at], p[at+1] = 0x80|byte(id>>8)&0x7f, byte(id)
		return
	}
	p[at] = byte(id) & 0x7f
}

// rebase sets the offsets so that p, the first packet of a new layer (a
// keyframe), continues from the numbers last sent.
func (v *vp8Numbers) rebase(p []byte) {
	if !v.on || !v.seen {
		return
	}
	pic, tl0, long := vp8Fields(p)
	if pic > 0 {
		v.picOff = v.lastPic + 1 - readPic(p, pic, long)
	}
	if tl0 > 0 {
		v.tl0Off = v.lastTl0 + 1 - p[tl0]
	}
}

// renumber adds the offsets to p's numbers in place.
func renumberVP8(p []byte, picOff uint16, tl0Off uint8) {
	pic, tl0, long := vp8Fields(p)
	if pic > 0 {
		writePic(p, pic, long, (readPic(p, pic, long)+picOff)&picMask(long))
	}
	if tl0 > 0 {
		p[tl0] += tl0Off
	}
}

// out returns the payload to send for p: p itself, or p renumbered in
// scratch. newest says p is the newest packet sent, whose numbers are kept.
func (v *vp8Numbers) out(p []byte, scratch *[]byte, newest bool) []byte {
	if !v.on {
		return p
	}
	pic, tl0, long := vp8Fields(p)
	if pic == 0 && tl0 == 0 {
		return p
	}
	if v.picOff != 0 || v.tl0Off != 0 {
		*scratch = append((*scratch)[:0], p...)
		p = *scratch
		renumberVP8(p, v.picOff, v.tl0Off)
	}
	if newest {
		v.seen = true
		if pic > 0 {
			v.lastPic = readPic(p, pic, long)
		}
		if tl0 > 0 {
			v.lastTl0 = p[tl0]
		}
	}
	return p
}
