package rooms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"lectern/storage"
)

// ErrNoStreamKey: the room has no stream key.
var ErrNoStreamKey = errors.New("rooms: the room has no stream key")

// streamKeyBytes is the randomness of a stream key: 192 bits, past any guessing.
const streamKeyBytes = 24

// RotateStreamKey gives the room a new stream key ("sk_" and 32 base64url
// characters); the old one stops working at once, for new sessions. Errors
// wrap ErrRoomNotFound for an unknown room.
func (s *Service) RotateStreamKey(ctx context.Context, room string) (storage.StreamKey, error) {
	b := make([]byte, streamKeyBytes)
	rand.Read(b)
	k, err := s.db.SetStreamKey(ctx, room, "sk_"+base64.RawURLEncoding.EncodeToString(b))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.StreamKey{}, fmt.Errorf("%w: %s", ErrRoomNotFound, room)
	}
	return k, err
}

// StreamKeyOf returns the room's stream key record; ErrNoStreamKey if it has none.
func (s *Service) StreamKeyOf(ctx context.Context, room string) (storage.StreamKey, error) {
	k, err := s.db.StreamKey(ctx, room)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.StreamKey{}, ErrNoStreamKey
	}
	return k, err
}

// DeleteStreamKey removes the room's stream key: encoders need a token then.
// ErrNoStreamKey if it had none.
func (s *Service) DeleteStreamKey(ctx context.Context, room string) error {
	err := s.db.DeleteStreamKey(ctx, room)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNoStreamKey
	}
	return err
}
