package sfu

import "strings"

// Continuous VP8 and VP9 picture numbers for each subscriber. Each simulcast
// encoding numbers its frames on its own (the picture ID, of 7 or 15 bits,
// and TL0PICIDX: RFC 7741 section 4.2 for VP8, draft-ietf-payload-vp9
// section 4.2 for VP9), and a receiver orders frames by those numbers:
// libwebrtc drops a frame whose picture ID is not newer than the last one it
// decoded, and takes a reference older than that as decoded. Forwarded as
// they come, a switch to a layer whose numbers are behind the old layer's
// had its keyframe dropped and its delta frames decoded on the old layer's
// pictures: a corrupted picture at the old size until the next keyframe,
// which the netlab's viewer showed for 15 to 20 s at a time. So a
// subscriber's stream renumbers both to continue from the last ones sent, as
// it does sequence numbers and timestamps.

// pictureFields finds the picture ID and TL0PICIDX in a payload
// descriptor: their offsets (0 when absent) and whether the picture ID has
// 15 bits.
type pictureFields func(p []byte) (pic, tl0 int, long bool)

// pictureFieldsOf returns the codec's pictureFields, nil for a codec whose
// frames are not numbered in the payload (H.264's are ordered by sequence
// number, which every subscriber's stream renumbers anyway).
func pictureFieldsOf(mime string) pictureFields {
	return videoCodecs[strings.ToLower(mime)].pictures
}

// pictureNumbers is one subscriber's renumbering of a VP8 or VP9 track,
// guarded by the downTrack's mu.
type pictureNumbers struct {
	// fields is set for a VP8 or VP9 track when the downTrack is made; nil
	// turns renumbering off.
	fields pictureFields
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
	ext := p[1]
	pic, long, i := picField(p, 2, ext&0x80 != 0)
	if ext&0x40 != 0 {
		tl0 = i
		i++
	}
	if i > len(p) {
		return 0, 0, false
	}
	return pic, tl0, long
}

// vp9Fields returns the offsets of the picture ID and TL0PICIDX in a VP9
// payload descriptor (draft-ietf-payload-vp9 section 4.2: I for a picture
// ID, L for layer indices, followed by TL0PICIDX in non-flexible mode, F=0).
func vp9Fields(p []byte) (pic, tl0 int, long bool) {
	if len(p) < 1 {
		return 0, 0, false
	}
	b := p[0]
	pic, long, i := picField(p, 1, b&0x80 != 0)
	if b&0x20 != 0 {
		i++ // TID, U, SID, D
		if b&0x10 == 0 {
			tl0 = i
			i++
		}
	}
	if i > len(p) {
		return 0, 0, false
	}
	return pic, tl0, long
}

// picField reads the picture ID field at i when present: its offset (0
// when absent), whether it has 15 bits (the M bit) and the offset after it.
// An offset past the end of p makes the caller's bound check fail.
func picField(p []byte, i int, present bool) (at int, long bool, next int) {
	if !present {
		return 0, false, i
	}
	if len(p) <= i {
		return 0, false, len(p) + 1
	}
	long = p[i]&0x80 != 0
	if long {
		return i, true, i + 2
	}
	return i, false, i + 1
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
func (v *pictureNumbers) rebase(p []byte) {
	if v.fields == nil || !v.seen {
		return
	}
	pic, tl0, long := v.fields(p)
	if pic > 0 {
		v.picOff = v.lastPic + 1 - readPic(p, pic, long)
	}
	if tl0 > 0 {
		v.tl0Off = v.lastTl0 + 1 - p[tl0]
	}
}

// renumberPictures adds the offsets to p's numbers in place.
func renumberPictures(fields pictureFields, p []byte, picOff uint16, tl0Off uint8) {
	pic, tl0, long := fields(p)
	if pic > 0 {
		writePic(p, pic, long, (readPic(p, pic, long)+picOff)&picMask(long))
	}
	if tl0 > 0 {
		p[tl0] += tl0Off
	}
}

// out returns the payload to send for p: p itself, or p renumbered in
// scratch. newest says p is the newest packet sent, whose numbers are kept.
func (v *pictureNumbers) out(p []byte, scratch *[]byte, newest bool) []byte {
	if v.fields == nil {
		return p
	}
	pic, tl0, long := v.fields(p)
	if pic == 0 && tl0 == 0 {
		return p
	}
	if v.picOff != 0 || v.tl0Off != 0 {
		*scratch = append((*scratch)[:0], p...)
		p = *scratch
		renumberPictures(v.fields, p, v.picOff, v.tl0Off)
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
