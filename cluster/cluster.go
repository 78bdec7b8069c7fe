// Package cluster lets several Lectern nodes share one PostgreSQL database: a
// node registry kept fresh by heartbeats, and room placement, which puts each
// room's media on one live node (the least loaded when the room starts) and
// moves it when that node dies. Clients that reach another node are sent to
// the owner (the api and ingest packages do the sending).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"lectern/storage"
)

// Config is one node's cluster configuration.
type Config struct {
	// NodeID names this node; it should stay the same across restarts.
	NodeID string
	// URL is the node's advertised HTTP base URL (public_url), where other
	// nodes send clients of the rooms it holds.
	URL string
	// RTSPURL is its advertised RTSP base URL, for RTSP redirects.
	RTSPURL string
	// Interval is the time between heartbeats.
	Interval time.Duration
	// DeadAfter is how old a node's last heartbeat may be before its rooms
	// are placed elsewhere. Zero means three intervals.
	DeadAfter time.Duration
}

// DefaultInterval is the heartbeat interval when none is configured.
const DefaultInterval = 2 * time.Second

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	if c.NodeID == "" || len(c.NodeID) > 64 {
		return errors.New("node_id: must be 1 to 64 characters")
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public_url: %q is not an http(s) URL other nodes can reach", c.URL)
	}
	if c.Interval <= 0 {
		return errors.New("cluster heartbeat interval: must be positive")
	}
	if c.DeadAfter != 0 && c.DeadAfter <= c.Interval {
		return errors.New("cluster dead-after: must be longer than the heartbeat interval")
	}
	return nil
}

// Load is what a node carries, reported with every heartbeat.
type Load struct {
	Rooms, Participants int
}

// Owner is the node a room's media lives on.
type Owner struct {
	NodeID, URL, RTSPURL string
	// Local is set when the owner is this node (or when no node could be
	// found and this node serves the room as a fallback).
	Local bool
}

// Node is this server's membership in the cluster. The draining flag is its
// only mutable state (atomic); heartbeats and the owner cache have a mutex each.
type Node struct {
	cfg  Config
	db   *storage.DB
	log  *slog.Logger
	load func() Load
	live func(room string) bool

	draining atomic.Bool
	// beatMu serializes heartbeats, so that one started before Drain cannot
	// write "not draining" after Drain's own.
	beatMu sync.Mutex

	cacheMu sync.Mutex
	cache   map[string]cachedOwner
	// cacheGen counts forgetOwners calls, so that a lookup that read the
	// database before one does not store its answer after it.
	cacheGen uint64

	// mediaRooms and evict fence rooms off this node (Fence); set before Run.
	mediaRooms func() []string
	evict      func(room string)
	// publishing says which unplaced rooms with media here fence claims
	// (ClaimWhen); nil: all of them.
	publishing func(room string) bool

	// The node's own liveness (fence.go): lock is held from Register until
	// Run ends (nil on SQLite, or while lost); lockless is set on SQLite,
	// which has no advisory locks; lastBeat is when the last
	// successful heartbeat began, in nanoseconds since epoch (monotonic);
	// fenced is set from the moment the node finds it may have been judged
	// dead until it has ended its sessions and heartbeats again.
	lockMu   sync.Mutex
	lock     *storage.NodeLock
	lockless bool
	epoch    time.Time
	lastBeat atomic.Int64
	fenced   atomic.Bool
	onFenced func()
}

type cachedOwner struct {
	owner   Owner
	expires time.Time
}

// A node whose heartbeat is pruneAfter old is removed from the registry; each
// node looks for such nodes every pruneEvery.
const (
	pruneAfter = 24 * time.Hour
	pruneEvery = 10 * time.Minute
)

// ownerCacheTTL bounds how stale an owner lookup (not a placement) may be; it
// spares the database the requests of HLS viewers polling an offline room.
const ownerCacheTTL = time.Second

// New prepares a node. load reports the node's load for heartbeats; live
// reports whether a room has media on this node now. Nothing is written until
// Register.
func New(cfg Config, db *storage.DB, load func() Load, live func(room string) bool, log *slog.Logger) (*Node, error) {
	if cfg.DeadAfter == 0 {
		cfg.DeadAfter = 3 * cfg.Interval
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || load == nil || live == nil || log == nil {
		return nil, errors.New("cluster: every dependency is required")
	}
	n := &Node{cfg: cfg, db: db, log: log.With("node", cfg.NodeID), load: load, live: live, cache: map[string]cachedOwner{}, epoch: time.Now()}
	n.lastBeat.Store(-int64(cfg.DeadAfter) * 2) // fenced until registered
	return n, nil
}

// ID returns the node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// self is this node as an owner.
func (n *Node) self() Owner {
	return Owner{NodeID: n.cfg.NodeID, URL: n.cfg.URL, RTSPURL: n.cfg.RTSPURL, Local: true}
}

func (n *Node) owner(p storage.Placement) Owner {
	if p.Node.ID == n.cfg.NodeID {
		return n.self()
	}
	return Owner{NodeID: p.Node.ID, URL: p.Node.URL, RTSPURL: p.Node.RTSPURL}
}

// Fence makes the node check with every heartbeat that each room with media
// here (mediaRooms) is still placed here. A node judged dead for a while — a
// long pause, or cut off from the database — finds, when its heartbeat
// returns, that joins meanwhile placed some of its rooms on another node:
// evict must end such a room here, so that its clients reconnect to the
// room's node and the room is not split. Call it before Run.
func (n *Node) Fence(mediaRooms func() []string, evict func(room string)) {
	n.mediaRooms, n.evict = mediaRooms, evict
}

// Register writes the node's first heartbeat, so that it can be placed on
// before it serves. Call it once before Run.
func (n *Node) Register(ctx context.Context) error {
	if err := n.takeLock(ctx); err != nil {
		return err
	}
	if err := n.heartbeat(ctx); err != nil {
		return err
	}
	n.log.Info("cluster node registered", "url", n.cfg.URL, "interval", n.cfg.Interval, "dead_after", n.cfg.DeadAfter)
	return nil
}

func (n *Node) heartbeat(ctx context.Context) error {
	n.beatMu.Lock()
	defer n.beatMu.Unlock()
	began := n.now()
	l := n.load()
	_, err := n.db.Heartbeat(ctx, storage.Node{ID: n.cfg.NodeID, URL: n.cfg.URL, RTSPURL: n.cfg.RTSPURL,
		Rooms: l.Rooms, Participants: l.Participants, Draining: n.draining.Load()})
	if err == nil {
		n.lastBeat.Store(int64(began))
	}
	return err
}

// Run heartbeats until ctx ends and releases the rooms placed here that have
// no media here (any more). Between heartbeats it watches the node's own
// liveness and the other nodes' locks (fence.go). It does not leave the
// cluster: a node whose Run ends without Leave frees its lock, and the other
// nodes judge it dead at once.
func (n *Node) Run(ctx context.Context) error {
	defer n.releaseLock()
	beat := time.NewTicker(n.cfg.Interval)
	defer beat.Stop()
	watch := time.NewTicker(n.watchInterval())
	defer watch.Stop()
	failing := false
	var pruned time.Time
	for {
		due := false
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			due = true
		case <-watch.C:
		}
		n.watch(ctx)
		if !due {
			continue
		}
		err := n.takeLock(ctx)
		if err == nil {
			err = n.heartbeat(ctx)
		}
		if err == nil {
			err = n.sweep(ctx)
		}
		if err == nil && time.Since(pruned) > pruneEvery {
			// Nodes that went away without leaving (crashed, or whose data
			// dir and so node ID were lost) would stay listed forever.
			_, err = n.db.PruneNodes(ctx, pruneAfter)
			pruned = time.Now()
		}
		if err == nil {
			n.lift()
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			n.log.Warn("cluster heartbeat failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			n.log.Info("cluster heartbeat recovered")
			failing = false
		}
	}
}

// sweep releases placements here whose room has no media here. A fresh
// placement is kept for DeadAfter, the time its client has to arrive, except
// while draining: then nothing new comes and every idle room goes.
func (n *Node) sweep(ctx context.Context) error {
	ps, err := n.db.NodePlacements(ctx, n.cfg.NodeID, n.cfg.DeadAfter)
	if err != nil {
		return err
	}
	grace := time.Now().Add(-n.cfg.DeadAfter)
	draining := n.draining.Load()
	for _, p := range ps {
		if n.live(p.RoomID) || (!draining && p.PlacedAt.After(grace)) {
			continue
		}
		if err := n.db.ReleaseRoom(ctx, p.RoomID, n.cfg.NodeID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if n.live(p.RoomID) {
			// A client arrived while the room was released: take it back
			// unless another node took it meanwhile (or, draining, this
			// node may not; its next joins go elsewhere).
			if draining {
				continue
			}
			if _, err := n.db.PlaceRoomHere(ctx, p.RoomID, n.cfg.NodeID, n.cfg.DeadAfter); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			continue
		}
		n.log.Debug("room released", "room", p.RoomID)
	}
	return n.fence(ctx, ps)
}

// fence ends here the rooms with media here that another live node holds
// (see Fence). placed are the placements on this node. A room with media
// here and no placement, or one held by a dead node (its join was served here
// while the database did not answer, or by a viewer, who does not place a
// room), is claimed, unless the node drains or the room has no publisher here
// (ClaimWhen).
func (n *Node) fence(ctx context.Context, placed []storage.Placement) error {
	if n.mediaRooms == nil {
		return nil
	}
	here := make(map[string]bool, len(placed))
	for _, p := range placed {
		here[p.RoomID] = true
	}
	for _, room := range n.mediaRooms() {
		if here[room] {
			continue
		}
		p, err := n.db.RoomPlacement(ctx, room, n.cfg.DeadAfter)
		if err == nil && !p.Node.Live {
			err = storage.ErrNotFound // held by a dead node: as good as unplaced
		}
		if errors.Is(err, storage.ErrNotFound) {
			if n.draining.Load() || (n.publishing != nil && !n.publishing(room)) {
				continue // viewers alone do not place a room (ClaimWhen)
			}
			p, err = n.db.PlaceRoomHere(ctx, room, n.cfg.NodeID, n.cfg.DeadAfter)
		}
		switch {
		case errors.Is(err, storage.ErrNotFound):
			continue
		case err != nil:
			return err
		case p.Node.ID == n.cfg.NodeID || !p.Node.Live:
			continue
		}
		n.log.Warn("room placed on another node while this one was judged dead: ending it here", "room", room, "owner", p.Node.ID)
		n.cacheMu.Lock()
		delete(n.cache, room)
		n.cacheMu.Unlock()
		n.evict(room)
	}
	return nil
}

// Place returns the node room's media lives on, claiming the room for the
// least loaded live node that is not draining when no live node holds it. A
// room with media here is served here without asking the database.
func (n *Node) Place(ctx context.Context, room string) (Owner, error) {
	return n.place(ctx, room, n.db.PlaceRoom)
}

// PlaceHere is Place for clients that do not follow redirects (RTSP
// encoders): a room no live node holds is placed on this node unless it is
// draining.
func (n *Node) PlaceHere(ctx context.Context, room string) (Owner, error) {
	return n.place(ctx, room, n.db.PlaceRoomHere)
}

func (n *Node) place(ctx context.Context, room string, placeRoom func(context.Context, string, string, time.Duration) (storage.Placement, error)) (Owner, error) {
	if n.live(room) {
		return n.self(), nil
	}
	p, err := placeRoom(ctx, room, n.cfg.NodeID, n.cfg.DeadAfter)
	if err == nil && p.Node.ID == n.cfg.NodeID && n.draining.Load() {
		// Placed here before the drain began, and idle: hand it on.
		if err := n.db.ReleaseRoom(ctx, room, n.cfg.NodeID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return Owner{}, err
		}
		p, err = placeRoom(ctx, room, n.cfg.NodeID, n.cfg.DeadAfter)
	}
	if err != nil {
		return Owner{}, err
	}
	return n.owner(p), nil
}

// Lookup returns the live node that holds room, without claiming it; this
// node when the room has media here, or when no live node holds it. Answers
// may be up to a second old.
func (n *Node) Lookup(ctx context.Context, room string) (Owner, error) {
	if n.live(room) {
		return n.self(), nil
	}
	now := time.Now()
	n.cacheMu.Lock()
	c, ok := n.cache[room]
	gen := n.cacheGen
	n.cacheMu.Unlock()
	if ok && now.Before(c.expires) {
		return c.owner, nil
	}
	o := n.self()
	p, err := n.db.RoomPlacement(ctx, room, n.cfg.DeadAfter)
	switch {
	case err == nil && p.Node.Live:
		o = n.owner(p)
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return Owner{}, err
	}
	n.cacheMu.Lock()
	defer n.cacheMu.Unlock()
	if gen != n.cacheGen {
		return o, nil // owners were forgotten meanwhile: this answer may be one of them
	}
	for k, v := range n.cache { // keep the cache small: drop what expired
		if now.After(v.expires) {
			delete(n.cache, k)
		}
	}
	n.cache[room] = cachedOwner{owner: o, expires: now.Add(ownerCacheTTL)}
	return o, nil
}

// forgetOwners empties the owner cache, and keeps lookups under way from
// filling it with what they read before.
func (n *Node) forgetOwners() {
	n.cacheMu.Lock()
	defer n.cacheMu.Unlock()
	clear(n.cache)
	n.cacheGen++
}

// Drain marks the node draining: no new rooms are placed here, rooms placed
// here without media are released, and joins to them go elsewhere. Rooms with
// media here stay until they empty.
func (n *Node) Drain(ctx context.Context) error {
	n.draining.Store(true)
	n.log.Info("cluster node draining")
	if err := n.heartbeat(ctx); err != nil {
		return err
	}
	return n.sweep(ctx)
}

// Draining reports whether Drain was called.
func (n *Node) Draining() bool { return n.draining.Load() }

// Leave removes the node from the registry with its placements, so its rooms
// are placed again at their next join without waiting for it to be dead.
// Call it after Run has returned, or the next heartbeat registers it again.
func (n *Node) Leave(ctx context.Context) error {
	defer n.releaseLock()
	err := n.db.DeleteNode(ctx, n.cfg.NodeID)
	if errors.Is(err, storage.ErrNotFound) {
		err = nil
	}
	if err == nil {
		n.log.Info("cluster node left")
	}
	return err
}
