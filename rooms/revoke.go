package rooms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"lectern/storage"
)

// Changes that narrow what tokens allow go through these methods, so that
// this process's checks see them at once (the cache drops the room's
// generation); other nodes see them within Config.RevocationTTL.

// CreateMember stores a new member (storage.DB.CreateMember).
func (s *Service) CreateMember(ctx context.Context, m storage.Member) (storage.Member, error) {
	defer s.cache.invalidate(m.RoomID)
	return s.db.CreateMember(ctx, m)
}

// UpdateMember writes a member's settings (storage.DB.UpdateMember); tokens
// of the identity are narrowed to them from now on.
func (s *Service) UpdateMember(ctx context.Context, m storage.Member) (storage.Member, error) {
	defer s.cache.invalidate(m.RoomID)
	return s.db.UpdateMember(ctx, m)
}

// DeleteMember deletes a member; every token of its identity issued until
// now stops working in the room.
func (s *Service) DeleteMember(ctx context.Context, room, identity string) error {
	defer s.cache.invalidate(room)
	return s.db.DeleteMember(ctx, room, identity)
}

// DeleteRoom deletes a room with its members and revocations, and stops its
// broadcast. Errors wrap ErrRoomNotFound.
func (s *Service) DeleteRoom(ctx context.Context, id string) error {
	defer s.cache.invalidate(id)
	if err := s.db.DeleteRoom(ctx, id); err != nil {
		return roomErr(err, id)
	}
	s.ApplyBroadcast(storage.Room{ID: id})
	return nil
}

// RevokeToken makes app's token with id stop working in every room it names.
// Another app's token with the same ID is not touched: token IDs are chosen
// by whoever mints a token, so they are recorded per app.
func (s *Service) RevokeToken(ctx context.Context, app, id string) error {
	defer s.cache.invalidate(storage.TokensScope)
	return s.db.RevokeToken(ctx, revokedKey(app, id), time.Now().Add(s.cfg.MaxTokenTTL))
}

// revokedKey is how a revoked token ID of app is recorded: the ID itself in
// the default app (as before apps), "<app>~<id>" in others.
func revokedKey(app, id string) string {
	if app == "" || app == storage.DefaultApp {
		return id
	}
	return app + "~" + id
}

// RevokeIdentity makes every token of identity issued until now stop working
// in room. Errors wrap ErrRoomNotFound.
func (s *Service) RevokeIdentity(ctx context.Context, room, identity string) error {
	defer s.cache.invalidate(room)
	_, err := s.db.RevokeIdentity(ctx, room, identity)
	return roomErr(err, room)
}

// Ban refuses every token of identity in room until the given time (the zero
// time lifts the ban). Errors wrap ErrRoomNotFound.
func (s *Service) Ban(ctx context.Context, room, identity string, until time.Time) error {
	defer s.cache.invalidate(room)
	return roomErr(s.db.BanIdentity(ctx, room, identity, until), room)
}

func roomErr(err error, room string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrRoomNotFound, room)
	}
	return err
}
