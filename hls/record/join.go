package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"lectern/hls"
)

// A part continued by another node (takeover.go) comes from a new program
// there, whose decode times start again near zero. Played as they are, the
// parts overlap on the timeline: players that follow the decode times
// rather than EXT-X-DISCONTINUITY (ffmpeg's HLS reader) drop what seems to
// come before what they already played, about a second at the join. So
// the continued part's segments are moved, as they are written, to start
// where the parts before it end in the store: the recording is one
// timeline, on which the outage takes no time (the playlist's
// EXT-X-PROGRAM-DATE-TIME says when each part was recorded). Every track
// is moved by the same time, so audio and video stay in step.

// join moves the decode times of a continued part's segments. It belongs
// to the recording's writer.
type join struct {
	// end is where the earlier parts end on the recording's timeline, in
	// seconds: the latest end of a track of the last stored segment.
	end float64
	// by is the time added to this part's decode times, set at its first
	// segment; off is by in ticks of each track of init section initID.
	by      float64
	started bool
	initID  int
	off     map[uint32]int64
}

// timescales reads the timescale of each track of an init section.
func timescales(init []byte) (map[uint32]uint32, error) {
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(init)); err != nil {
		return nil, fmt.Errorf("record: init section: %w", err)
	}
	out := map[uint32]uint32{}
	for _, t := range in.Tracks {
		if t.TimeScale == 0 || t.ID <= 0 {
			return nil, fmt.Errorf("%w: track %d of timescale 0", errFragment, t.ID)
		}
		out[uint32(t.ID)] = t.TimeScale
	}
	return out, nil
}

// mediaEnd is where a segment ends on its timeline, in seconds: the
// latest end of its tracks.
func mediaEnd(init, seg []byte) (float64, error) {
	ts, err := timescales(init)
	if err != nil {
		return 0, err
	}
	sp, err := spans(seg)
	if err != nil {
		return 0, err
	}
	end := math.Inf(-1)
	for id, s := range sp {
		if scale, ok := ts[id]; ok {
			end = max(end, float64(s.end)/float64(scale))
		}
	}
	if math.IsInf(end, -1) {
		return 0, fmt.Errorf("%w: no track of the init section", errFragment)
	}
	return end, nil
}

// apply returns g's fragments moved onto the recording's timeline (copies:
// g's stay as they are).
func (j *join) apply(g hls.Segment) ([][]byte, error) {
	if !j.started || g.InitID != j.initID {
		ts, err := timescales(g.Init)
		if err != nil {
			return nil, err
		}
		if !j.started {
			sp, err := spans(g.Parts...)
			if err != nil {
				return nil, err
			}
			start := math.Inf(1)
			for id, s := range sp {
				if scale, ok := ts[id]; ok {
					start = min(start, float64(s.start)/float64(scale))
				}
			}
			if math.IsInf(start, 1) {
				return nil, fmt.Errorf("%w: no track of the init section", errFragment)
			}
			j.by, j.started = j.end-start, true
		}
		j.off = map[uint32]int64{}
		for id, scale := range ts {
			j.off[id] = int64(math.Round(j.by * float64(scale)))
		}
		j.initID = g.InitID
	}
	out := make([][]byte, len(g.Parts))
	for i, p := range g.Parts {
		out[i] = bytes.Clone(p)
		if err := shift(out[i], j.off); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxMedia bounds what is read of a stored media file.
const maxMedia = 256 << 20

// priorEnd reads where the earlier parts of a recording end on its
// timeline, from the last of their segments that reached the store
// (prior, from its index); false if none did.
func (r *Recorder) priorEnd(ctx context.Context, room, id string, prior []entry) (float64, bool, error) {
	segs := segments(prior)
	if len(segs) == 0 {
		return 0, false, nil
	}
	last := segs[len(segs)-1]
	ctx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	defer cancel()
	get := func(name string) ([]byte, error) {
		obj, err := r.store.Open(ctx, prefix(room, id)+name)
		if err != nil {
			return nil, err
		}
		defer obj.Close()
		b, err := io.ReadAll(io.LimitReader(obj, maxMedia+1))
		if err == nil && len(b) > maxMedia {
			err = errors.New("too large")
		}
		return b, err
	}
	init, err := get(initName(last.Part, last.Init))
	if err != nil {
		return 0, false, fmt.Errorf("record: %s: %w", initName(last.Part, last.Init), err)
	}
	seg, err := get(last.File)
	if err != nil {
		return 0, false, fmt.Errorf("record: %s: %w", last.File, err)
	}
	end, err := mediaEnd(init, seg)
	if err != nil {
		return 0, false, fmt.Errorf("record: %s: %w", last.File, err)
	}
	return end, true, nil
}
