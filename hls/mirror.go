package hls

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MirrorStore is the bucket behind the CDN where the mirror puts the media
// objects (objstore.S3 implements it). The objects must be readable by the
// CDN (or by anyone) under MirrorPrefix.
type MirrorStore interface {
	// PutCached stores an object with a Cache-Control header.
	PutCached(ctx context.Context, key string, r io.Reader, size int64, contentType, cacheControl string) error
}

// MirrorPrefix is the key prefix of the media objects in the bucket; the
// CDN base URL (Config.CDNURL) maps to the bucket's root.
const MirrorPrefix = "hls/"

// Upload retries back off from mirrorRetryMin to mirrorRetryMax; one PUT
// may last mirrorPutTimeout.
const (
	mirrorRetryMin   = 100 * time.Millisecond
	mirrorRetryMax   = 5 * time.Second
	mirrorPutTimeout = 10 * time.Second
)

// UseCDN publishes the LL-HLS media (init segments, parts, segments) to
// store, and serves media playlists that name them at Config.CDNURL: the
// origin then serves playlists only. It must be called before the first
// Configure.
func (s *Service) UseCDN(store MirrorStore) error {
	if s.cfg.CDNURL == "" || store == nil {
		return fmt.Errorf("hls_cdn_url: a CDN base URL and an object store are both needed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cdn = &cdn{store: store, ctx: ctx, cancel: cancel}
	return nil
}

// cdn is the service's mirroring: one mirrorSet per muxer, all waited for
// by close.
type cdn struct {
	store  MirrorStore
	ctx    context.Context // ends uploads on close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// start runs the mirroring of a room's muxer until stop.
func (c *cdn) start(cfg Config, room string, m *Muxer, log *slog.Logger) *mirrorSet {
	ms := &mirrorSet{c: c, cfg: cfg, room: room, m: m, log: log, stop: make(chan struct{}), mirrors: map[*rendition]*mirror{}}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ms.run()
	}()
	return ms
}

// close cancels the uploads in flight and waits for every mirror.
func (c *cdn) close() {
	c.cancel()
	c.wg.Wait()
}

// mirrorSet mirrors the renditions of one muxer's streams: its goroutine
// starts a mirror for every rendition of the live stream and forgets those
// of expired streams. The map is guarded by mu.
type mirrorSet struct {
	c    *cdn
	cfg  Config
	room string
	m    *Muxer
	log  *slog.Logger
	stop chan struct{} // closed when the muxer stops
	wg   sync.WaitGroup

	mu      sync.Mutex
	mirrors map[*rendition]*mirror
	closed  bool
}

func (ms *mirrorSet) run() {
	defer func() {
		ms.mu.Lock()
		ms.closed = true
		ms.mu.Unlock()
		ms.wg.Wait() // the mirrors end with their streams (the muxer ended them)
	}()
	for {
		st, changed := ms.m.liveOrChange()
		var next <-chan struct{}
		if st != nil {
			rs := st.renditionList()
			for _, r := range rs {
				ms.get(st, r)
			}
			// A new simulcast layer shows up within a part of rendition 0.
			if len(rs) > 0 {
				next = rs[0].snap.Load().next
			}
		}
		ms.prune()
		select {
		case <-changed:
		case <-next:
		case <-ms.stop:
			return
		case <-ms.c.ctx.Done():
			return
		}
	}
}

// get returns the mirror of rendition r of stream st, started if needed;
// nil once the set is closed and r was never mirrored.
func (ms *mirrorSet) get(st *stream, r *rendition) *mirror {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if mr := ms.mirrors[r]; mr != nil || ms.closed {
		return mr
	}
	key := MirrorPrefix + ms.room + "/" + st.id + "/" // room IDs are [a-z0-9-]: safe in a key and a URL
	mr := &mirror{r: r, stream: st.id, store: ms.c.store, cfg: ms.cfg, key: key, uri: ms.cfg.CDNURL + "/" + key,
		log:   ms.log.With("stream", st.id, "rendition", r.index),
		inits: map[int]bool{}, segs: map[uint64]bool{}}
	mr.snap.Store(&snapshot{next: make(chan struct{})})
	ms.mirrors[r] = mr
	ms.wg.Add(1)
	go func() {
		defer ms.wg.Done()
		mr.run(ms.c.ctx)
	}()
	return mr
}

// prune forgets the mirrors of streams the muxer has forgotten.
func (ms *mirrorSet) prune() {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for r, mr := range ms.mirrors {
		if ms.m.stream(mr.stream) == nil {
			delete(ms.mirrors, r)
		}
	}
}

// mirror uploads one rendition's media, following its snapshot chain, and
// publishes its own chain of snapshots listing only what is uploaded, with
// absolute URIs at the CDN and no preload hint (a CDN cannot hold a request
// for a part that does not exist yet; RFC 8216bis section 4.4.5.3 makes the
// hint optional). The upload state is owned by the run goroutine; readers
// see snap only.
type mirror struct {
	r      *rendition
	stream string
	store  MirrorStore
	cfg    Config
	key    string // hls/<room>/<stream>/
	uri    string // <cdn>/hls/<room>/<stream>/
	log    *slog.Logger

	inits    map[int]bool
	nextPart uint64 // parts before it are uploaded
	segs     map[uint64]bool

	snap atomic.Pointer[snapshot]
}

func (mr *mirror) run(ctx context.Context) {
	src := mr.r.snap.Load()
	for {
		if err := mr.upload(ctx, src); err != nil {
			return // closing
		}
		mr.publish(src)
		if src.ended {
			return
		}
		select {
		case <-src.next:
			src = mr.r.snap.Load()
		case <-ctx.Done():
			return
		}
	}
}

// upload puts every init segment, part and complete segment listed in s
// that is not in the bucket yet, in playlist order.
func (mr *mirror) upload(ctx context.Context, s *snapshot) error {
	listed := s.segs[min(s.first, len(s.segs)):]
	for _, g := range listed {
		if g.init != nil && !mr.inits[g.init.n] {
			if err := mr.put(ctx, s.name+"-i"+strconv.Itoa(g.init.n)+".mp4", "video/mp4", g.init.data); err != nil {
				return err
			}
			mr.inits[g.init.n] = true
		}
		for _, p := range g.parts {
			if p.seq < mr.nextPart {
				continue
			}
			if err := mr.put(ctx, partName(s.name, p.seq), "video/iso.segment", p.data); err != nil {
				return err
			}
			mr.nextPart = p.seq + 1
		}
		if g.complete && !mr.segs[g.msn] {
			data := make([][]byte, len(g.parts))
			for i, p := range g.parts {
				data[i] = p.data
			}
			if err := mr.put(ctx, s.name+"-"+strconv.FormatUint(g.msn, 10)+".m4s", "video/iso.segment", data...); err != nil {
				return err
			}
			mr.segs[g.msn] = true
		}
	}
	if len(listed) > 0 {
		for msn := range mr.segs {
			if msn < listed[0].msn {
				delete(mr.segs, msn)
			}
		}
	}
	return nil
}

// put uploads one object, retrying with backoff until it is stored or ctx ends.
func (mr *mirror) put(ctx context.Context, name, ctype string, chunks ...[]byte) error {
	wait := mirrorRetryMin
	for failures := 0; ; failures++ {
		readers := make([]io.Reader, len(chunks))
		var size int64
		for i, c := range chunks {
			readers[i] = bytes.NewReader(c)
			size += int64(len(c))
		}
		pctx, cancel := context.WithTimeout(ctx, mirrorPutTimeout)
		err := mr.store.PutCached(pctx, mr.key+name, io.MultiReader(readers...), size, ctype, cacheImmutable)
		cancel()
		if err == nil {
			if failures > 0 {
				mr.log.Info("hls mirror: uploads resumed", "failures", failures)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if failures == 0 || wait == mirrorRetryMax && failures%12 == 0 { // about once a minute
			mr.log.Warn("hls mirror: upload failed, retrying", "object", name, "err", err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, mirrorRetryMax)
	}
}

// publish replaces the mirror's snapshot with a copy of s, whose media are
// all uploaded, rendered with CDN URIs.
func (mr *mirror) publish(s *snapshot) {
	if len(s.segs) <= s.first && !s.ended {
		return // nothing to list yet: readers wait for the first part
	}
	c := *s
	c.open = false // no EXT-X-PRELOAD-HINT
	c.next = make(chan struct{})
	c.body = renderMediaAt(&c, mr.cfg, mr.uri)
	c.gz = gzipped(c.body)
	old := mr.snap.Swap(&c)
	close(old.next)
}

// latest implements chain.
func (mr *mirror) latest() *snapshot { return mr.snap.Load() }

// wait implements chain, as rendition.wait does for the rendition's own chain.
func (mr *mirror) wait(ctx context.Context, timeout time.Duration, check func(*snapshot) (bool, error)) (*snapshot, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s := mr.snap.Load()
		if done, err := check(s); done || err != nil {
			return s, err
		}
		select {
		case <-s.next:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, ErrUnavailable
		}
	}
}

// mirrorOf returns the mirror of rendition r of the room's stream st, or nil.
func (s *Service) mirrorOf(room string, st *stream, r *rendition) *mirror {
	s.mu.RLock()
	rs := s.rooms[room]
	var ms *mirrorSet
	if rs != nil {
		ms = rs.mirrors
	}
	s.mu.RUnlock()
	if ms == nil || ms.m != st.m {
		return nil
	}
	return ms.get(st, r)
}
