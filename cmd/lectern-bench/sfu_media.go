package main

import (
	"encoding/binary"
	"time"
)

// Synthetic video for the SFU bench. Nothing in the path decodes pictures, so
// the frames are filler of the right sizes wrapped in the structure the SFU
// and a depacketizer look at: H.264 parameter sets, IDR and non-IDR slices in
// single NAL unit, STAP-A and FU-A packets (RFC 6184); VP8 payload descriptors
// and frame headers with the keyframe bit (RFC 7741, RFC 6386 section 9.1).

// maxPayload is the largest RTP payload sent, as browsers keep under a 1,200-byte MTU budget.
const maxPayload = 1200

// keyframeWeight is how many delta frames' worth of bytes a keyframe takes.
const keyframeWeight = 5

// videoSource makes one encoding's frames. It is used by one goroutine.
type videoSource struct {
	codec         string // "h264" or "vp8"
	width, height int
	deltaBytes    int
	keyBytes      int
	frameNum      int    // H.264 frame_num since the last IDR
	idrID         int    // H.264 idr_pic_id
	pictureID     uint16 // VP8 picture ID (15 bits)
	sps, pps      []byte
}

// newVideoSource sizes frames so that a GOP of gop frames at fps averages bitrate.
func newVideoSource(codec string, width, height, bitrate, fps, gop int) *videoSource {
	avg := bitrate / 8 / fps
	delta := max(100, avg*gop/(gop-1+keyframeWeight))
	v := &videoSource{codec: codec, width: width, height: height, deltaBytes: delta, keyBytes: delta * keyframeWeight}
	if codec == "h264" {
		v.sps, v.pps = h264SPS(width, height), h264PPS()
	}
	return v
}

// next returns the RTP payloads of the next frame, a keyframe if key.
func (v *videoSource) next(key bool) [][]byte {
	if v.codec == "vp8" {
		return v.nextVP8(key)
	}
	return v.nextH264(key)
}

func (v *videoSource) nextH264(key bool) [][]byte {
	var out [][]byte
	size := v.deltaBytes
	if key {
		v.frameNum = 0
		size = v.keyBytes
		// STAP-A (RFC 6184 section 5.7.1) with SPS and PPS, as encoders send before an IDR.
		stap := []byte{0x78} // F=0, NRI=3, type 24
		for _, nal := range [][]byte{v.sps, v.pps} {
			stap = binary.BigEndian.AppendUint16(stap, uint16(len(nal)))
			stap = append(stap, nal...)
		}
		out = append(out, stap)
	}
	nal := h264Slice(key, v.frameNum, v.idrID, size)
	if key {
		v.idrID = (v.idrID + 1) % 65536
	}
	v.frameNum = (v.frameNum + 1) % 16
	return append(out, fragmentNAL(nal)...)
}

// fragmentNAL packs a NAL unit as a single NAL unit packet or as FU-A
// fragments (RFC 6184 section 5.8).
func fragmentNAL(nal []byte) [][]byte {
	if len(nal) <= maxPayload {
		return [][]byte{nal}
	}
	indicator := nal[0]&0xe0 | 28
	typ := nal[0] & 0x1f
	var out [][]byte
	for data := nal[1:]; len(data) > 0; {
		n := min(len(data), maxPayload-2)
		hdr := typ
		if len(out) == 0 {
			hdr |= 0x80 // S
		}
		if n == len(data) {
			hdr |= 0x40 // E
		}
		p := make([]byte, 2+n)
		p[0], p[1] = indicator, hdr
		copy(p[2:], data[:n])
		out = append(out, p)
		data = data[n:]
	}
	return out
}

// h264Slice is a slice NAL unit of size bytes: a real slice header (ITU-T H.264
// section 7.3.3, for the SPS and PPS below) followed by filler slice data.
func h264Slice(idr bool, frameNum, idrID, size int) []byte {
	var w bitWriter
	header := byte(0x41) // NRI=2, non-IDR slice
	w.ue(0)              // first_mb_in_slice
	if idr {
		header = 0x65 // NRI=3, IDR slice
		w.ue(7)       // slice_type: I, all slices
	} else {
		w.ue(5) // slice_type: P, all slices
	}
	w.ue(0)                     // pic_parameter_set_id
	w.bits(uint64(frameNum), 4) // frame_num, log2_max_frame_num = 4
	if idr {
		w.ue(idrID)  // idr_pic_id
		w.bits(0, 2) // no_output_of_prior_pics_flag, long_term_reference_flag
	} else {
		w.bits(0, 2) // num_ref_idx_active_override_flag, ref_pic_list_modification_flag_l0
		w.bits(0, 1) // adaptive_ref_pic_marking_mode_flag
	}
	w.se(0) // slice_qp_delta
	w.ue(0) // disable_deblocking_filter_idc
	w.se(0) // slice_alpha_c0_offset_div2
	w.se(0) // slice_beta_offset_div2
	nal := append([]byte{header}, w.bytes()...)
	for i := len(nal); i < size; i++ {
		nal = append(nal, byte(0x80|i)) // never 0, so no start code emulation
	}
	return nal
}

// h264SPS is a constrained baseline sequence parameter set (profile-level-id
// 42e01f, section 7.3.2.1.1) for the picture size: frame_num of 4 bits, picture
// order count type 2 (no B-frames), one reference frame, cropping to the size.
func h264SPS(width, height int) []byte {
	mbW, mbH := (width+15)/16, (height+15)/16
	var w bitWriter
	w.bits(66, 8)   // profile_idc: baseline
	w.bits(0xe0, 8) // constraint_set0,1,2 flags: constrained baseline
	w.bits(31, 8)   // level_idc 3.1
	w.ue(0)         // seq_parameter_set_id
	w.ue(0)         // log2_max_frame_num_minus4
	w.ue(2)         // pic_order_cnt_type
	w.ue(1)         // max_num_ref_frames
	w.bits(0, 1)    // gaps_in_frame_num_value_allowed_flag
	w.ue(mbW - 1)   // pic_width_in_mbs_minus1
	w.ue(mbH - 1)   // pic_height_in_map_units_minus1
	w.bits(1, 1)    // frame_mbs_only_flag
	w.bits(1, 1)    // direct_8x8_inference_flag
	cropR, cropB := (mbW*16-width)/2, (mbH*16-height)/2
	if cropR > 0 || cropB > 0 {
		w.bits(1, 1) // frame_cropping_flag, in 2-pixel units for 4:2:0
		w.ue(0)
		w.ue(cropR)
		w.ue(0)
		w.ue(cropB)
	} else {
		w.bits(0, 1)
	}
	w.bits(0, 1) // vui_parameters_present_flag
	return append([]byte{0x67}, escapeRBSP(w.trailing())...)
}

// h264PPS is the picture parameter set the slices refer to (section 7.3.2.2).
func h264PPS() []byte {
	var w bitWriter
	w.ue(0)      // pic_parameter_set_id
	w.ue(0)      // seq_parameter_set_id
	w.bits(0, 1) // entropy_coding_mode_flag: CAVLC
	w.bits(0, 1) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)      // num_slice_groups_minus1
	w.ue(0)      // num_ref_idx_l0_default_active_minus1
	w.ue(0)      // num_ref_idx_l1_default_active_minus1
	w.bits(0, 1) // weighted_pred_flag
	w.bits(0, 2) // weighted_bipred_idc
	w.se(0)      // pic_init_qp_minus26
	w.se(0)      // pic_init_qs_minus26
	w.se(0)      // chroma_qp_index_offset
	w.bits(1, 1) // deblocking_filter_control_present_flag
	w.bits(0, 1) // constrained_intra_pred_flag
	w.bits(0, 1) // redundant_pic_cnt_present_flag
	return append([]byte{0x68}, escapeRBSP(w.trailing())...)
}

// escapeRBSP inserts emulation prevention bytes (section 7.4.1).
func escapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b)+4)
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// bitWriter writes the fixed and Exp-Golomb fields of H.264 headers, MSB first.
type bitWriter struct {
	buf []byte
	n   int // bits written
}

func (w *bitWriter) bits(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		if v>>i&1 == 1 {
			w.buf[len(w.buf)-1] |= 0x80 >> (w.n % 8)
		}
		w.n++
	}
}

// ue writes an unsigned Exp-Golomb code (section 9.1).
func (w *bitWriter) ue(v int) {
	x := uint64(v) + 1
	n := 0
	for y := x; y > 1; y >>= 1 {
		n++
	}
	w.bits(0, n)
	w.bits(x, n+1)
}

// se writes a signed Exp-Golomb code (section 9.1.1).
func (w *bitWriter) se(v int) {
	if v > 0 {
		w.ue(2*v - 1)
	} else {
		w.ue(-2 * v)
	}
}

// trailing ends the RBSP with a stop bit and zero padding.
func (w *bitWriter) trailing() []byte {
	w.bits(1, 1)
	return w.buf
}

func (w *bitWriter) bytes() []byte { return w.buf }

func (v *videoSource) nextVP8(key bool) [][]byte {
	size := v.deltaBytes
	if key {
		size = v.keyBytes
	}
	// Frame header (RFC 6386 section 9.1): a 3-byte tag whose bit 0 is 0 for a
	// keyframe, then for keyframes the start code and the picture size.
	frame := make([]byte, size)
	tag := uint32(1)<<4 | uint32(min(size/4, 1<<19-1))<<5 // show_frame, first_part_size
	if !key {
		tag |= 1
	}
	frame[0], frame[1], frame[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	i := 3
	if key {
		copy(frame[3:], []byte{0x9d, 0x01, 0x2a})
		binary.LittleEndian.PutUint16(frame[6:], uint16(v.width))
		binary.LittleEndian.PutUint16(frame[8:], uint16(v.height))
		i = 10
	}
	for ; i < size; i++ {
		frame[i] = byte(0x80 | i)
	}
	// Payload descriptor (RFC 7741 section 4.2) with a 15-bit picture ID, as
	// browsers send it; S marks the frame's first packet.
	v.pictureID = (v.pictureID + 1) & 0x7fff
	var out [][]byte
	for data := frame; len(data) > 0; {
		n := min(len(data), maxPayload-4)
		p := make([]byte, 4+n)
		p[0], p[1] = 0x80, 0x80 // X, then I
		if len(out) == 0 {
			p[0] |= 0x10 // S, partition 0
		}
		p[2], p[3] = 0x80|byte(v.pictureID>>8), byte(v.pictureID)
		copy(p[4:], data[:n])
		out = append(out, p)
		data = data[n:]
	}
	return out
}

// The last bytes of every large video payload carry a stamp the subscriber
// reads to measure delivery latency and to see which simulcast layer it gets:
// "LBT", the layer index, then the send time in Unix nanoseconds. They fall in
// the filler of slice or frame data, so they change nothing the SFU looks at.
const stampSize = 12

// stamp writes the stamp into p, if p is a payload that may carry one.
func stamp(codec string, p []byte, layer int, at time.Time) {
	if !stampable(codec, p) {
		return
	}
	s := p[len(p)-stampSize:]
	s[0], s[1], s[2], s[3] = 'L', 'B', 'T', byte(layer)
	binary.BigEndian.PutUint64(s[4:], uint64(at.UnixNano()))
}

// readStamp returns the layer and send time a payload carries, if any.
func readStamp(p []byte) (layer int, at time.Time, ok bool) {
	if len(p) < 64 {
		return 0, time.Time{}, false
	}
	s := p[len(p)-stampSize:]
	if s[0] != 'L' || s[1] != 'B' || s[2] != 'T' {
		return 0, time.Time{}, false
	}
	return int(s[3]), time.Unix(0, int64(binary.BigEndian.Uint64(s[4:]))), true
}

// stampable excludes small packets and H.264 parameter-set aggregates.
func stampable(codec string, p []byte) bool {
	return len(p) >= 64 && !(codec == "h264" && p[0]&0x1f == 24)
}
