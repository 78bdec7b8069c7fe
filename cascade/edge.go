package cascade

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/sfu"
)

const (
	// pullTimeout bounds one pull's offer and the owner's answer.
	pullTimeout = 5 * time.Second
	// deleteTimeout bounds ending a session at the owner.
	deleteTimeout = 2 * time.Second
	// retryPull is how long a layer whose pull failed waits before the next.
	retryPull = time.Second
	// checkEvery is how often the layers subscribers take are checked.
	checkEvery = 250 * time.Millisecond
	// dropHold is how long a layer nobody takes stays pulled.
	dropHold = 2 * time.Second
	// absentAfter is how long a pull may bring no video while the lowest
	// layer's does before the layer is taken to be absent at the owner;
	// absentRetry is when the edge looks for it again (a simulcast publisher
	// may come on air).
	absentAfter = 5 * time.Second
	absentRetry = 30 * time.Second
	// maxRedials bounds how often the lowest layer is pulled again after its
	// connection failed before coming up.
	maxRedials = 2
)

// edge is one room served here from its owner: an edge room in the local
// SFU, a relay participant publishing the room's video (one layer per pull)
// and audio (from the lowest layer's pull), and the pulls. Its run goroutine
// owns the pulls; mu guards the tracks and feeds, which pion's goroutines
// (onTrack) and the local SFU (PLI, NACK) reach.
type edge struct {
	edges              *Edges
	id, room, origin   string
	opts               sfu.RoomOptions
	log                *slog.Logger
	ready, done, stopC chan struct{}
	wake               chan struct{}
	stopOnce           sync.Once
	// readyErr is the first pull's outcome, set before ready closes.
	readyErr error
	// refs counts the local sessions using the edge; guarded by edges.mu.
	refs int
	// reason is why the edge ends, set before stopC closes.
	reason string
	wg     sync.WaitGroup

	// sroom and relay are set before ready closes.
	sroom *sfu.Room
	relay *sfu.Participant

	// pubMu serializes onTrack's publishing (two pulls' first packets may
	// race) and, taken once by teardown, ends it; it is never held by the
	// SFU's calls into the edge (PLI, NACK), which take only mu.
	pubMu sync.Mutex

	mu           sync.Mutex
	video, audio *sfu.Track
	// feeds are the video layers by rank, then the audio.
	feeds [4]*feed
	added [4]bool
}

const audioFeed = 3

func newEdge(e *Edges, room, origin string, opts sfu.RoomOptions) *edge {
	b := make([]byte, 4)
	rand.Read(b)
	id := hex.EncodeToString(b)
	return &edge{edges: e, id: id, room: room, origin: origin, opts: opts,
		log:   e.log.With("room", room, "origin", origin, "edge", id),
		ready: make(chan struct{}), done: make(chan struct{}), stopC: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// stop ends the edge with reason (the first reason given wins).
func (ed *edge) stop(reason string) {
	ed.stopOnce.Do(func() {
		ed.reason = reason
		close(ed.stopC)
	})
}

func (ed *edge) stopping() bool {
	select {
	case <-ed.stopC:
		return true
	case <-ed.done:
		return true
	default:
		return false
	}
}

func (ed *edge) wakeLoop() {
	select {
	case ed.wake <- struct{}{}:
	default:
	}
}

// run opens the edge, pulls what its subscribers want until it is stopped or
// the owner ends the lowest layer's pull (the room ended there, or its node
// is gone), and then ends everything: the pulls, and the edge room with the
// local subscribers, who reconnect.
func (ed *edge) run() {
	defer ed.edges.wg.Done()
	defer close(ed.done)
	defer ed.edges.forget(ed)
	var pulls [3]*pull
	defer func() { ed.teardown(pulls[:]) }()
	err := ed.open()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
		pulls[0], err = ed.startPull(ctx, 0)
		cancel()
	}
	ed.readyErr = err
	close(ed.ready)
	if err != nil {
		ed.log.Warn("cascade edge could not start", "err", err)
		ed.stop("the room's node could not be reached")
		return
	}
	ed.log.Info("cascade edge started")
	// Every layer is pulled at first; then the layers no subscriber here
	// takes are dropped, after holding for dropHold.
	wanted := [3]bool{true, true, true}
	redials := 0
	var unwantedSince, retryAt [3]time.Time
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	ed.wakeLoop()
	for {
		select {
		case <-ed.stopC:
			return
		case <-ed.relay.Done():
			ed.stop("the edge's relay closed: " + ed.relay.Reason())
			return
		case <-ed.relay.Events():
			// publish_layers (dynacast) pauses only layers above the
			// highest wanted: the edge pulls what is taken (taken).
		case <-tick.C:
			wanted = ed.taken(wanted, &unwantedSince, time.Now())
		case <-ed.wake:
		}
		select {
		case <-pulls[0].ended:
			if pulls[0].connected.Load() || redials >= maxRedials {
				ed.stop("the room's node ended the stream: connect again")
				return
			}
			redials++
			if pulls[0] = ed.redialLowest(pulls[0], redials); pulls[0] == nil {
				return
			}
		default:
		}
		for r := 1; r < len(pulls); r++ {
			p := pulls[r]
			if p != nil {
				select {
				case <-p.ended:
					ed.endPull(p)
					pulls[r], p = nil, nil
				default:
				}
			}
			if p != nil && !p.video.Load() && pulls[0].video.Load() && time.Since(p.started) > absentAfter {
				// The owner's video has no such layer (no simulcast, or
				// fewer layers): stop asking, and look again later.
				ed.endPull(p)
				pulls[r], p = nil, nil
				retryAt[r] = time.Now().Add(absentRetry)
				ed.log.Debug("cascade layer absent at the owner", "layer", rids[r])
			}
			switch {
			case wanted[r] && p == nil && time.Now().After(retryAt[r]):
				ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
				np, err := ed.startPull(ctx, r)
				cancel()
				if err != nil {
					ed.log.Debug("cascade pull failed", "layer", rids[r], "err", err)
					retryAt[r] = time.Now().Add(retryPull)
					continue
				}
				pulls[r] = np
				ed.log.Debug("cascade layer pulled", "layer", rids[r])
			case !wanted[r] && p != nil:
				ed.endPull(p)
				pulls[r] = nil
				ed.log.Debug("cascade layer dropped", "layer", rids[r])
			}
		}
	}
}

// taken returns the layers to pull now: the lowest always; another while
// a subscriber here takes it (sfu.Track.TakenLayers), or until the owner is
// seen to have it (its pull idles meanwhile), and for dropHold after the
// last subscriber stopped taking it, so that a subscriber moving between
// layers does not restart a pull each time.
func (ed *edge) taken(was [3]bool, since *[3]time.Time, now time.Time) [3]bool {
	ed.mu.Lock()
	video, added := ed.video, ed.added
	ed.mu.Unlock()
	var takenNow [3]bool
	if video != nil {
		for i, ok := range video.TakenLayers() {
			if r := rankOf(video.LayerRID(i)); ok && r >= 0 {
				takenNow[r] = true
			}
		}
	}
	w := [3]bool{true}
	for r := 1; r < 3; r++ {
		switch {
		case takenNow[r] || !added[r]:
			w[r], since[r] = true, time.Time{}
		case !was[r]:
		case since[r].IsZero():
			w[r], since[r] = true, now
		case now.Sub(since[r]) < dropHold:
			w[r] = true
		}
	}
	return w
}

// rankOf is the rank of a pulled layer's name, -1 for another.
func rankOf(rid string) int {
	for r, name := range rids {
		if name == rid {
			return r
		}
	}
	return -1
}

// open joins the edge room as the relay participant.
func (ed *edge) open() error {
	room, err := ed.edges.media.EdgeRoom(ed.room, ed.opts)
	if err != nil {
		return err
	}
	relay, err := room.Join(sfu.ParticipantOptions{Identity: "cascade-relay", Name: "Cascade relay", Kind: sfu.KindEdge,
		Permissions: access.Publish})
	if err != nil {
		return err
	}
	ed.sroom, ed.relay = room, relay
	return nil
}

// onTrack runs on pion's goroutine when a pull's track sends its first
// packet: the layer (or the audio) is fed from it from now on. It reads the
// receiver's RTCP, whose end (the owner closed the session) ends the pull.
func (ed *edge) onTrack(p *pull, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	ed.wg.Add(1)
	go func() {
		defer ed.wg.Done()
		for {
			if _, _, err := recv.ReadRTCP(); err != nil {
				p.end()
				ed.wakeLoop()
				return
			}
		}
	}()
	idx, rid := p.rank, rids[p.rank]
	if remote.Kind() == webrtc.RTPCodecTypeAudio {
		idx, rid = audioFeed, ""
	} else {
		p.video.Store(true)
	}
	ed.pubMu.Lock()
	defer ed.pubMu.Unlock()
	if ed.stopping() {
		return
	}
	ed.mu.Lock()
	if ed.feeds[idx] == nil {
		ed.feeds[idx] = newFeed(randomSSRC(), remote.Codec().ClockRate, &ed.edges.stats.pulled[idx])
	}
	f, added := ed.feeds[idx], ed.added[idx]
	t := &ed.video
	if idx == audioFeed {
		t = &ed.audio
	}
	track := *t
	ed.mu.Unlock()
	if track == nil {
		source := sfu.SourceCamera
		if idx == audioFeed {
			source = sfu.SourceMicrophone
		}
		var err error
		track, err = ed.relay.PublishRelay(sfu.RelaySpec{Kind: remote.Kind(), Codec: remote.Codec(), Source: source,
			PLI:  func(ssrc uint32) { ed.feedOf(ssrc, (*feed).pli) },
			NACK: func(n *rtcp.TransportLayerNack) { ed.feedOf(n.MediaSSRC, func(f *feed) { f.nack(n) }) },
			Stop: func() { ed.closeFeeds() }})
		if err != nil {
			ed.log.Debug("relay track not published", "err", err)
			return
		}
		ed.mu.Lock()
		*t = track
		ed.mu.Unlock()
	}
	if !added {
		ed.mu.Lock()
		ed.added[idx] = true
		ed.mu.Unlock()
		track.AddRelayLayer(rid, f.ssrc, f)
	}
	f.attach(remote, p.pc)
}

// feedOf runs fn on the feed of ssrc, if any.
func (ed *edge) feedOf(ssrc uint32, fn func(*feed)) {
	ed.mu.Lock()
	var f *feed
	for _, x := range ed.feeds {
		if x != nil && x.ssrc == ssrc {
			f = x
		}
	}
	ed.mu.Unlock()
	if f != nil {
		fn(f)
	}
}

// closeFeeds makes every feed's reads end once its pull's do.
func (ed *edge) closeFeeds() {
	ed.mu.Lock()
	feeds := ed.feeds
	ed.mu.Unlock()
	for _, f := range feeds {
		if f != nil {
			f.close()
		}
	}
}

// endPull closes a pull and ends its session at the owner.
func (ed *edge) endPull(p *pull) {
	ed.mu.Lock()
	feeds := ed.feeds
	ed.mu.Unlock()
	for _, f := range feeds {
		if f != nil {
			f.detach(p.pc)
		}
	}
	p.pc.Close()
	p.end()
	ed.edges.stats.pulls[p.rank].Add(-1)
	ed.deleteSession(p.location, rids[p.rank])
}

// teardown ends the pulls, then the edge room: the relay and every local
// subscriber, told why.
func (ed *edge) teardown(pulls []*pull) {
	ed.stop("the edge closed")
	ed.pubMu.Lock() // no track is published after this
	ed.pubMu.Unlock()
	ed.closeFeeds()
	for _, p := range pulls {
		if p != nil {
			ed.endPull(p)
		}
	}
	if ed.sroom != nil {
		ed.sroom.End(ed.reason)
	}
	ed.wg.Wait()
	ed.log.Info("cascade edge closed", "reason", ed.reason)
}

func randomSSRC() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:]) | 1
}
