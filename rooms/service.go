// Package rooms holds Lectern's room rules, above the media hub and below the
// HTTP and RTSP front ends: loading a room, turning a credential (access
// token, PIN, stream key, API key) into what it allows in a room now, the
// media and broadcast settings a stored room implies, and revocation. The
// api package and the RTSP authorizer in cmd/lectern both ask it; it imports
// neither.
//
// A token carries the grant it was minted with, but the grant used is never
// more than the room's current record allows (Service.Grant, docs/security.md
// "Revocation").
package rooms

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"lectern/access"
	"lectern/hls"
	"lectern/sfu"
	"lectern/storage"
)

// Config is the rooms service's configuration.
type Config struct {
	// Clustered: several nodes share the database, so a room's broadcast
	// settings may have changed on another node and are applied again before
	// a session starts here (EnsureBroadcast).
	Clustered bool
	// RevocationTTL is how long a room's cached generation is trusted before
	// it is read again: the longest a change made on another node takes to
	// reach this one's checks.
	RevocationTTL time.Duration
	// MaxTokenTTL is the longest a token lives; a revoked token ID is kept
	// that long.
	MaxTokenTTL time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{RevocationTTL: 2 * time.Second, MaxTokenTTL: 7 * 24 * time.Hour}
}

// broadcaster applies a room's broadcast settings (hls.Service).
type broadcaster interface {
	Configure(room string, s hls.Settings) error
}

// recorderConfig turns a room's recording on or off (record.Recorder).
type recorderConfig interface {
	Configure(room string, on bool) error
}

// mediaRooms opens SFU rooms and updates live ones (sfu.SFU).
type mediaRooms interface {
	Room(id string, opts sfu.RoomOptions) (*sfu.Room, error)
	Reconfigure(id string, opts sfu.RoomOptions)
}

// Deps are what the service uses. Recorder may be nil.
type Deps struct {
	DB        *storage.DB
	Issuer    *access.Issuer
	Media     mediaRooms
	Broadcast broadcaster
	Recorder  recorderConfig
	Log       *slog.Logger
}

// Service answers room rules. It is safe for concurrent use; its cache is
// its only state.
type Service struct {
	cfg    Config
	db     *storage.DB
	issuer *access.Issuer
	media  mediaRooms
	hls    broadcaster
	rec    recorderConfig
	log    *slog.Logger
	cache  *cache
}

// New builds the service; it starts nothing.
func New(cfg Config, d Deps) (*Service, error) {
	if d.DB == nil || d.Issuer == nil || d.Media == nil || d.Broadcast == nil || d.Log == nil {
		return nil, errors.New("rooms: db, issuer, media, broadcast and log are required")
	}
	if cfg.RevocationTTL <= 0 || cfg.MaxTokenTTL <= 0 {
		return nil, errors.New("rooms: revocation TTL and max token TTL must be positive")
	}
	return &Service{cfg: cfg, db: d.DB, issuer: d.Issuer, media: d.Media, hls: d.Broadcast, rec: d.Recorder,
		log: d.Log, cache: newCache(d.DB, cfg.RevocationTTL, time.Now)}, nil
}

// Room loads a stored room; errors wrap ErrRoomNotFound if there is none.
func (s *Service) Room(ctx context.Context, id string) (storage.Room, error) {
	r, err := s.db.Room(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Room{}, fmt.Errorf("%w: %q", ErrRoomNotFound, id)
	}
	return r, err
}

// Verify checks an access token and returns its claims and its current grant
// in room (Grant).
func (s *Service) Verify(ctx context.Context, token, room string) (access.Claims, access.Grant, error) {
	c, err := s.issuer.Verify(token)
	if err != nil {
		return access.Claims{}, access.Grant{}, err
	}
	g, err := s.Grant(ctx, c, room)
	if err != nil {
		return access.Claims{}, access.Grant{}, err
	}
	return c, g, nil
}

// Grant returns what verified claims allow in room now: nothing if the
// token's ID is revoked (ErrTokenRevoked), if its identity's tokens in the
// room were revoked after it was issued (ErrTokenRevoked; deleting a member
// does this) or the identity is banned (ErrBanned); otherwise the token's
// grant, narrowed to the member's current permissions and tier when the room
// has a member of that identity. ErrWrongRoom if the token names no such
// room. It reads the store only when the room's generation changed.
func (s *Service) Grant(ctx context.Context, c access.Claims, room string) (access.Grant, error) {
	// A token of one app reaches no room of another, whatever it names:
	// not found, as for a room that does not exist (docs/security.md
	// "Apps").
	if app := c.App; storage.KeyApp(room) != app && !(app == "" && storage.KeyApp(room) == storage.DefaultApp) {
		return access.Grant{}, fmt.Errorf("%w: %q", ErrRoomNotFound, storage.RoomName(room))
	}
	g, err := c.Grant(room)
	if err != nil {
		// A room the token does not name: not found if there is no such
		// room in the token's app (another app's rooms never are), else
		// the token is for other rooms.
		if _, rerr := s.Room(ctx, room); errors.Is(rerr, ErrRoomNotFound) {
			return access.Grant{}, rerr
		}
		return access.Grant{}, err
	}
	revoked, err := s.cache.tokenRevoked(ctx, revokedKey(c.App, c.ID))
	if err != nil {
		return access.Grant{}, err
	}
	if revoked {
		return access.Grant{}, ErrTokenRevoked
	}
	st, err := s.cache.identity(ctx, room, c.Identity)
	if err != nil {
		return access.Grant{}, err
	}
	if s.cache.now().Before(st.bannedUntil) {
		return access.Grant{}, ErrBanned
	}
	// iat has whole seconds: a token issued in the second of the revocation
	// is refused too.
	if st.revokedAt != 0 && c.IssuedAt.Unix() <= st.revokedAt {
		return access.Grant{}, ErrTokenRevoked
	}
	if st.member {
		g.Permissions &= st.perms
		if st.tier != "" && g.Tier.Exceeds(st.tier) {
			g.Tier = st.tier
		}
		g.Sources &= st.sources
	}
	return g, nil
}

// MintGrant works out the grant of a new token for identity in roomID: the
// chosen permissions (nil: the stored member's, else the room's default),
// tier ("": the member's, capped by the room) and the member's extra sources. Errors wrap ErrRoomNotFound,
// ErrInvalidTier or ErrTierAboveRoom.
func (s *Service) MintGrant(ctx context.Context, roomID, identity string, chosen *access.Permissions, tier string) (access.Grant, error) {
	r, err := s.Room(ctx, roomID)
	if err != nil {
		return access.Grant{}, err
	}
	p := DefaultPermissions(r.Mode)
	memberTier := ""
	var extra access.Sources
	m, err := s.db.Member(ctx, roomID, identity)
	switch {
	case err == nil:
		if p, err = access.ParsePermissions(m.Permissions); err != nil {
			return access.Grant{}, err
		}
		memberTier = m.Tier
		if extra, err = access.ParseSources(m.ExtraSources); err != nil {
			return access.Grant{}, err
		}
	case !errors.Is(err, storage.ErrNotFound):
		return access.Grant{}, err
	}
	if chosen != nil {
		p = *chosen
	}
	if tier != "" {
		if err := CheckTier(r, tier); err != nil {
			return access.Grant{}, err
		}
		memberTier = tier
	}
	return access.Grant{Permissions: p, Tier: EffectiveTier(r, memberTier), Sources: extra}, nil
}

// AdminKey checks an API key; ErrInvalidAPIKey if no stored key matches.
func (s *Service) AdminKey(ctx context.Context, key string) error {
	_, err := s.APIKey(ctx, key)
	return err
}

// APIKey returns the stored API key of the secret key: its app, and whether
// it is an operator key; ErrInvalidAPIKey if no stored key matches.
func (s *Service) APIKey(ctx context.Context, key string) (storage.APIKey, error) {
	sum := sha256.Sum256([]byte(key))
	k, err := s.db.APIKeyByHash(ctx, sum[:])
	if errors.Is(err, storage.ErrNotFound) {
		return storage.APIKey{}, ErrInvalidAPIKey
	}
	return k, err
}

// CheckStreamKey checks key against the room's stream key in constant time;
// ErrWrongStreamKey if it is not the room's or the room has none.
func (s *Service) CheckStreamKey(ctx context.Context, room, key string) error {
	k, err := s.db.StreamKey(ctx, room)
	if errors.Is(err, storage.ErrNotFound) {
		if _, rerr := s.Room(ctx, room); errors.Is(rerr, ErrRoomNotFound) {
			return rerr
		}
		return ErrWrongStreamKey
	}
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(key), []byte(k.Key)) != 1 {
		return ErrWrongStreamKey
	}
	return nil
}

// StreamKey returns the room's stream key ("" if it has none) and its media
// options, for an RTSP session about to start here (its broadcast settings
// are applied first, EnsureBroadcast). Errors wrap ErrRoomNotFound.
func (s *Service) StreamKey(ctx context.Context, room string) (string, sfu.RoomOptions, error) {
	r, err := s.Room(ctx, room)
	if err != nil {
		return "", sfu.RoomOptions{}, err
	}
	s.EnsureBroadcast(r)
	k, err := s.db.StreamKey(ctx, room)
	if errors.Is(err, storage.ErrNotFound) {
		return "", MediaOptions(r), nil
	}
	if err != nil {
		return "", sfu.RoomOptions{}, err
	}
	return k.Key, MediaOptions(r), nil
}
