package rooms

import (
	"context"
	"errors"
	"sync"
	"time"

	"lectern/access"
	"lectern/storage"
)

// maxCachedIdentities bounds the cache: past it, it starts again empty.
const maxCachedIdentities = 100_000

// revocationStore is what the cache reads.
type revocationStore interface {
	Generation(ctx context.Context, scope string) (int64, error)
	Member(ctx context.Context, roomID, identity string) (storage.Member, error)
	IdentityRevocation(ctx context.Context, roomID, identity string) (storage.IdentityRevocation, error)
	RevokedTokens(ctx context.Context) ([]string, error)
}

// genState is a scope's generation as last read from the store.
type genState struct {
	gen     int64
	checked time.Time
}

type identityKey struct{ room, identity string }

// identityState is what the room's current record says of one identity, as
// of generation gen.
type identityState struct {
	gen    int64
	member bool
	perms  access.Permissions
	// tier is the member's override; "" means none.
	tier access.Tier
	// sources are the member's extra sources (its media override).
	sources access.Sources
	// revokedAt: tokens with iat at or before it (Unix seconds) are refused; 0: none.
	revokedAt   int64
	bannedUntil time.Time
}

// cache keeps, per room, the generation read from the store at most ttl ago
// and, per identity, the member and revocation rows read at that generation,
// so that a check costs map lookups unless something changed. A change made
// through this process drops the room's generation at once (invalidate);
// one made by another node is seen within ttl. mu guards the maps.
type cache struct {
	db  revocationStore
	ttl time.Duration
	now func() time.Time

	mu sync.RWMutex
	// epoch counts invalidations: a generation read from the store while
	// one happened may predate the change, and is not kept.
	epoch  uint64
	gens   map[string]genState
	ids    map[identityKey]identityState
	tokGen int64
	tokSet map[string]struct{} // nil: not loaded
}

func newCache(db revocationStore, ttl time.Duration, now func() time.Time) *cache {
	return &cache{db: db, ttl: ttl, now: now, gens: map[string]genState{}, ids: map[identityKey]identityState{}}
}

// generation returns scope's generation, read from the store if the cached
// one is older than ttl.
func (c *cache) generation(ctx context.Context, scope string) (int64, error) {
	now := c.now()
	c.mu.RLock()
	gs, ok := c.gens[scope]
	epoch := c.epoch
	c.mu.RUnlock()
	if ok && now.Sub(gs.checked) < c.ttl {
		return gs.gen, nil
	}
	g, err := c.db.Generation(ctx, scope)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.epoch == epoch {
		c.gens[scope] = genState{gen: g, checked: now}
	}
	c.mu.Unlock()
	return g, nil
}

// invalidate makes the next check of scope read its generation again.
func (c *cache) invalidate(scope string) {
	c.mu.Lock()
	delete(c.gens, scope)
	c.epoch++
	c.mu.Unlock()
}

// identity returns the room's current record of identity.
func (c *cache) identity(ctx context.Context, room, identity string) (identityState, error) {
	gen, err := c.generation(ctx, room)
	if err != nil {
		return identityState{}, err
	}
	key := identityKey{room, identity}
	c.mu.RLock()
	st, ok := c.ids[key]
	c.mu.RUnlock()
	if ok && st.gen == gen {
		return st, nil
	}
	// Read after the generation: the rows are at least as new as gen.
	st = identityState{gen: gen}
	m, err := c.db.Member(ctx, room, identity)
	switch {
	case err == nil:
		st.member = true
		if st.perms, err = access.ParsePermissions(m.Permissions); err != nil {
			return identityState{}, err
		}
		st.tier = access.Tier(m.Tier)
		if st.sources, err = access.ParseSources(m.ExtraSources); err != nil {
			return identityState{}, err
		}
	case !errors.Is(err, storage.ErrNotFound):
		return identityState{}, err
	}
	rev, err := c.db.IdentityRevocation(ctx, room, identity)
	if err != nil {
		return identityState{}, err
	}
	if !rev.RevokedAt.IsZero() {
		st.revokedAt = rev.RevokedAt.Unix()
	}
	st.bannedUntil = rev.BannedUntil
	c.mu.Lock()
	if len(c.ids) >= maxCachedIdentities {
		clear(c.ids)
	}
	c.ids[key] = st
	c.mu.Unlock()
	return st, nil
}

// tokenRevoked reports whether the token ID was revoked.
func (c *cache) tokenRevoked(ctx context.Context, id string) (bool, error) {
	gen, err := c.generation(ctx, storage.TokensScope)
	if err != nil {
		return false, err
	}
	c.mu.RLock()
	set, loaded := c.tokSet, c.tokSet != nil && c.tokGen == gen
	c.mu.RUnlock()
	if !loaded {
		ids, err := c.db.RevokedTokens(ctx)
		if err != nil {
			return false, err
		}
		set = make(map[string]struct{}, len(ids))
		for _, id := range ids {
			set[id] = struct{}{}
		}
		c.mu.Lock()
		c.tokGen, c.tokSet = gen, set
		c.mu.Unlock()
	}
	_, revoked := set[id]
	return revoked, nil
}
