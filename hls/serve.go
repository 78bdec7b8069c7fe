package hls

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cache lifetimes a CDN can use (docs/hls.md): parts, segments and init
// segments never change once they exist; a blocking playlist response always
// satisfies the same request again; a plain playlist reload must be fresh.
const (
	cacheImmutable = "public, max-age=3600, immutable"
	cachePlaylist  = "public, max-age=1"
	cachePrivate   = "private, no-store"
)

// Multivariant returns the room's Multivariant Playlist with a new session in
// its URIs, valid until the session expiry for a token ending at tokenExpiry.
func (s *Service) Multivariant(room string, tokenExpiry time.Time) ([]byte, error) {
	s.stats.requests.Add(1)
	m := s.muxer(room)
	if m == nil {
		return nil, ErrOffline
	}
	st := m.current()
	if st == nil {
		return nil, ErrOffline
	}
	session := s.sign.sign(room, s.sessionExpiry(time.Now(), tokenExpiry))
	var vs []variant
	for _, r := range st.renditionList() {
		uri := session + "/" + st.id + "/" + r.name() + ".m3u8"
		if v, ok := variantOf(r.snap.Load(), uri); ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil, ErrStarting
	}
	return renderMultivariant(vs), nil
}

// WriteMultivariant writes the Multivariant Playlist response.
func WriteMultivariant(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Cache-Control", cachePrivate)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// Serve answers a request for a file of a stream under a session: a media
// playlist (blocking per RFC 8216bis section 6.2.5.2), an init segment, a
// segment or a part (held until it exists if it is the hinted next part,
// section 6.2.6). With a CDN (UseCDN) it serves the mirrored media playlists
// only and answers ErrNotFound for media. It returns an error before writing
// anything, or nil once it has answered.
func (s *Service) Serve(w http.ResponseWriter, req *http.Request, room, session, streamID, file string) error {
	s.stats.requests.Add(1)
	if err := s.sign.check(room, session, time.Now()); err != nil {
		return err
	}
	res, err := parseResource(file)
	if err != nil {
		return err
	}
	// A stream this node never had is a stale URL: it names a stream of the
	// room's previous node, which died. It is answered from the room's live
	// stream here, whose numbers are above the old stream's (msnBase,
	// partBase), so the player plays on after a discontinuity.
	var st *stream
	stale := false
	if m := s.muxer(room); m != nil {
		if st = m.stream(streamID); st == nil {
			st, _ = m.liveOrChange()
			stale = true
		}
	}
	if st == nil {
		// Nothing live here yet under a valid session: the room's broadcast
		// is moving here (its encoder reconnecting after its node died). The
		// request is held like a blocking one, up to its limit, rather than
		// answered 404, after which standard players give up.
		ctx, cancel := context.WithTimeout(req.Context(), s.blockTimeout())
		st = s.awaitStream(ctx, room)
		cancel()
		stale = true
	}
	if st == nil && s.muxer(room) == nil {
		return ErrOffline
	}
	if st == nil {
		return fmt.Errorf("%w: the broadcast %s has ended", ErrNotFound, streamID)
	}
	rs := st.renditionList()
	if res.rendition >= len(rs) {
		return fmt.Errorf("%w: no rendition %d", ErrNotFound, res.rendition)
	}
	r := rs[res.rendition]
	if res.kind == resPlaylist {
		s.sawViewer(room, req)
	}
	if s.cdn != nil {
		// With a CDN the origin serves playlists only: the media are in the
		// bucket, at the URIs the mirror's playlists name (docs/hls.md).
		if res.kind != resPlaylist {
			return fmt.Errorf("%w: %s is served from the CDN", ErrNotFound, file)
		}
		mr := s.mirrorOf(room, st, r)
		if mr == nil {
			return fmt.Errorf("%w: the broadcast %s has ended", ErrNotFound, streamID)
		}
		return s.servePlaylist(w, req, mr, stale)
	}
	switch res.kind {
	case resPlaylist:
		return s.servePlaylist(w, req, r, stale)
	case resInit:
		return s.serveInit(w, req, r, int(res.n), stale)
	}
	if stale && r.snap.Load().foreign(res) {
		return s.serveSuccessor(w, req, r, res)
	}
	return s.serveMedia(w, req, r, res)
}

// blockTimeout is how long a blocking request is held: three target
// durations, after which section 6.2.5.2 says to answer 503.
func (s *Service) blockTimeout() time.Duration {
	return 3 * time.Duration(s.cfg.targetDuration()) * time.Second
}

// advancePartLimit is section 6.2.5.2's Advance Part Limit.
func (s *Service) advancePartLimit() int {
	if pt := s.cfg.PartDuration.Seconds(); pt < 1 {
		return int(math.Ceil(3 / pt))
	}
	return 3
}

// chain is a sequence of snapshots a playlist request reads: a rendition's
// own, or its mirror's when the media are on a CDN.
type chain interface {
	latest() *snapshot
	wait(ctx context.Context, timeout time.Duration, check func(*snapshot) (bool, error)) (*snapshot, error)
}

// latest implements chain.
func (r *rendition) latest() *snapshot { return r.snap.Load() }

// servePlaylist answers a media playlist request. A stale URL's blocking
// reload for a part past the live stream's next is one for the dead
// stream's numbers (which the live stream's may be below: its segments can
// be shorter than the segment duration): it is answered at once with the
// latest playlist, from which the player takes the live numbers. Held for
// the dead stream's next number, hls.js gave up (levelLoadTimeOut) and
// stalled 5.6 s in CI. A reload for the live stream's own next part is held
// as usual, stale URL or not.
func (s *Service) servePlaylist(w http.ResponseWriter, req *http.Request, r chain, stale bool) error {
	d, err := parseDirectives(req.URL.RawQuery)
	if err != nil {
		return err
	}
	if stale && d.block && r.latest().pastNext(d.msn, d.part) {
		d.block = false
	}
	snap := r.latest()
	cache := cachePlaylist
	if snap.body == nil && !d.block && s.cdn != nil {
		// Nothing rendered yet: a mirror before its first upload.
		if snap, err = s.wait(req.Context(), r, func(sn *snapshot) (bool, error) { return sn.body != nil, nil }); err != nil {
			return err
		}
	}
	if d.block {
		limit := s.advancePartLimit()
		snap, err = s.wait(req.Context(), r, func(sn *snapshot) (bool, error) {
			ok, bad := sn.ready(d.msn, d.part, limit)
			if bad {
				return false, fmt.Errorf("%w: _HLS_msn=%d _HLS_part=%d is too far ahead", ErrBadRequest, d.msn, d.part)
			}
			return ok, nil
		})
		if err != nil {
			return err
		}
		cache = "public, max-age=" + strconv.Itoa(3*s.cfg.targetDuration())
	}
	h := w.Header()
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Cache-Control", cache)
	h.Set("Vary", "Accept-Encoding")
	body := snap.body
	if acceptsGzip(req) {
		h.Set("Content-Encoding", "gzip")
		body = snap.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

func (s *Service) serveInit(w http.ResponseWriter, req *http.Request, r *rendition, n int, stale bool) error {
	if data := r.snap.Load().initNumbered(n); data != nil {
		writeMedia(w, "video/mp4", [][]byte{data})
		return nil
	}
	if !stale {
		return fmt.Errorf("%w: no init segment %d", ErrNotFound, n)
	}
	// The dead stream's init segment, asked for again (ffmpeg's reader does
	// when its connection broke, and ends at a 404), is the live stream's
	// newest: what the media that follow it need. Private, as for parts.
	var data []byte
	_, err := s.wait(req.Context(), r, func(sn *snapshot) (bool, error) {
		data = sn.newestInit()
		if data == nil && sn.ended {
			return false, fmt.Errorf("%w: no init segment %d", ErrNotFound, n)
		}
		return data != nil, nil
	})
	if err != nil {
		return err
	}
	writeBytes(w, "video/mp4", cachePrivate, [][]byte{data})
	return nil
}

func (s *Service) serveMedia(w http.ResponseWriter, req *http.Request, r *rendition, res resource) error {
	var data [][]byte
	_, err := s.wait(req.Context(), r, func(sn *snapshot) (bool, error) {
		var wait bool
		if res.kind == resPart {
			var p *part
			if p, wait = sn.lookupPart(res.n); p != nil {
				data = [][]byte{p.data}
				return true, nil
			}
		} else {
			var g *segView
			if g, wait = sn.lookupSegment(res.n); g != nil {
				data = make([][]byte, len(g.parts))
				for i, x := range g.parts {
					data[i] = x.data
				}
				return true, nil
			}
		}
		if !wait {
			return false, fmt.Errorf("%w: %s", ErrNotFound, res)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	writeMedia(w, "video/mp4", data)
	return nil
}

// serveSuccessor answers a stale URL's part or segment that is not the live
// stream's (foreign): one of the dead stream's, which will never exist, with
// what follows it now: the live
// stream's newest complete part or segment (held until there is one). A
// player that asked for what comes after what it has (a preload hint, the
// next segment) then plays on, where a 404 ends gohlslib's client and
// hls.js's playback, and Shaka retries it for seconds. The answer is
// private: the URL means this only here and now.
func (s *Service) serveSuccessor(w http.ResponseWriter, req *http.Request, r *rendition, res resource) error {
	var data [][]byte
	_, err := s.wait(req.Context(), r, func(sn *snapshot) (bool, error) {
		data = sn.newestData(res.kind == resPart)
		if data == nil && sn.ended {
			return false, fmt.Errorf("%w: %s", ErrNotFound, res)
		}
		return data != nil, nil
	})
	if err != nil {
		return err
	}
	writeBytes(w, "video/mp4", cachePrivate, data)
	return nil
}

// wait holds a request until check is satisfied, counting it as waiting.
func (s *Service) wait(ctx context.Context, r chain, check func(*snapshot) (bool, error)) (*snapshot, error) {
	defer s.stats.hold()()
	return r.wait(ctx, s.blockTimeout(), check)
}

// writeMedia writes immutable media bytes.
func writeMedia(w http.ResponseWriter, ctype string, chunks [][]byte) {
	writeBytes(w, ctype, cacheImmutable, chunks)
}

// writeBytes writes chunks as one body.
func writeBytes(w http.ResponseWriter, ctype, cache string, chunks [][]byte) {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", cache)
	h.Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	for _, c := range chunks {
		w.Write(c)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, e := range strings.Split(v, ",") {
			name, q, _ := strings.Cut(strings.TrimSpace(e), ";")
			if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(q) != "q=0" {
				return true
			}
		}
	}
	return false
}
