package hlstest

import (
	"fmt"
	"math"
	"slices"
)

// CheckParts returns what breaks the rules of RFC 8216bis for the parts of a
// live LL-HLS Media Playlist that Lectern promises:
//   - section 4.4.4.9: parts more than three target durations from the end
//     of the playlist are removed, and a segment's parts add up to it;
//   - section 4.4.3.8: enough parts are listed for a player to start
//     PART-HOLD-BACK from the end;
//   - section 4.4.5.3: the preload hint is TYPE=PART and names a part that
//     is not listed yet;
//   - a player can start at an independent part (INDEPENDENT=YES);
//   - parts are listed for whole segments, from some segment to the end.
func (p *MediaPlaylist) CheckParts() []string {
	var bad []string
	if p.Ended {
		return nil
	}
	const eps = 1e-3
	var end, listed float64
	for _, s := range p.Segments {
		end += s.Duration
	}
	for _, x := range p.Open {
		end += x.Duration
		listed += x.Duration
	}
	var uris []string
	start, withParts, independent := 0.0, false, false
	for _, s := range p.Segments {
		if len(s.Parts) > 0 {
			withParts = true
			if from := end - start; from > 3*float64(p.TargetDuration)+eps {
				bad = append(bad, fmt.Sprintf("segment %s has parts from %.3f s before the end, more than three target durations", s.URI, from))
			}
			var sum float64
			for _, x := range s.Parts {
				sum += x.Duration
				uris = append(uris, x.URI)
			}
			listed += sum
			if math.Abs(sum-s.Duration) > eps {
				bad = append(bad, fmt.Sprintf("segment %s lasts %.5f s, its parts %.5f s", s.URI, s.Duration, sum))
			}
			for _, x := range s.Parts {
				independent = independent || x.Independent
			}
		} else if withParts {
			bad = append(bad, fmt.Sprintf("segment %s has no parts, but one before it has", s.URI))
		}
		start += s.Duration
	}
	for _, x := range p.Open {
		uris = append(uris, x.URI)
	}
	if !independent {
		bad = append(bad, "no part of a complete segment is INDEPENDENT=YES")
	}
	if listed < p.PartHoldBack-eps {
		bad = append(bad, fmt.Sprintf("parts for %.3f s are listed, less than PART-HOLD-BACK %.3f", listed, p.PartHoldBack))
	}
	if p.HintType != "PART" {
		bad = append(bad, fmt.Sprintf("EXT-X-PRELOAD-HINT TYPE=%q, want PART", p.HintType))
	}
	if slices.Contains(uris, p.Hint) {
		bad = append(bad, fmt.Sprintf("the preload hint %s names a part already listed", p.Hint))
	}
	if dup := len(uris) - len(slices.Compact(slices.Sorted(slices.Values(uris)))); dup > 0 {
		bad = append(bad, fmt.Sprintf("%d part URIs are listed twice", dup))
	}
	return bad
}

// CheckReports returns what breaks RFC 8216bis section 4.4.5.4 for the
// playlist of rendition self (a URI relative to the multivariant playlist's
// folder, like the reports' own): one EXT-X-RENDITION-REPORT for each of
// others, none for itself, each naming a part (LAST-PART >= 0).
func (p *MediaPlaylist) CheckReports(self string, others []string) []string {
	var bad []string
	seen := map[string]bool{}
	for _, r := range p.Reports {
		switch {
		case r.URI == self:
			bad = append(bad, "a rendition report for the playlist itself")
		case !slices.Contains(others, r.URI):
			bad = append(bad, fmt.Sprintf("a rendition report for %s, which is no other rendition", r.URI))
		case seen[r.URI]:
			bad = append(bad, fmt.Sprintf("two rendition reports for %s", r.URI))
		}
		seen[r.URI] = true
		if r.LastPart < 0 {
			bad = append(bad, fmt.Sprintf("rendition report for %s: LAST-PART=%d", r.URI, r.LastPart))
		}
	}
	for _, o := range others {
		if !seen[o] {
			bad = append(bad, fmt.Sprintf("no rendition report for %s", o))
		}
	}
	return bad
}

// PartAt finds the part whose URI is uri: its (msn, part) position.
func (p *MediaPlaylist) PartAt(uri string) (msn uint64, part int, ok bool) {
	for i, s := range p.Segments {
		if k := slices.IndexFunc(s.Parts, func(x Part) bool { return x.URI == uri }); k >= 0 {
			return p.MediaSequence + uint64(i), k, true
		}
	}
	if k := slices.IndexFunc(p.Open, func(x Part) bool { return x.URI == uri }); k >= 0 {
		return p.MediaSequence + uint64(len(p.Segments)), k, true
	}
	return 0, 0, false
}
