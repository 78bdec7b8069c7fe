package rooms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"lectern/storage"
)

// CredentialApp returns the app of a credential: an access token's (its
// claim, once its signature is verified), an API key's, or the app of the
// room holding a stream key. ok is false when the credential is none of
// these; the caller then uses the app the request names, or the default
// app, and the credential fails its own check later.
func (s *Service) CredentialApp(ctx context.Context, cred string) (app string, ok bool, err error) {
	switch {
	case cred == "":
		return "", false, nil
	case strings.Count(cred, ".") == 2:
		c, err := s.issuer.Verify(cred)
		if err != nil {
			return "", false, nil
		}
		return c.App, true, nil
	case strings.HasPrefix(cred, "sk_"):
		room, err := s.db.StreamKeyRoom(ctx, cred)
		if errors.Is(err, storage.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		return storage.KeyApp(room), true, nil
	}
	k, err := s.APIKey(ctx, cred)
	if errors.Is(err, ErrInvalidAPIKey) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return k.App, true, nil
}

// RoomKey returns the key of the room that name addresses for a request
// with the credential cred, or, when cred names no app, in the app appParam
// (a request's "app" parameter; "" for the default app). A name that is the
// key of another app's room addresses nothing: ErrRoomNotFound. The room
// need not exist.
func (s *Service) RoomKey(ctx context.Context, name, cred, appParam string) (string, error) {
	app, ok, err := s.CredentialApp(ctx, cred)
	if err != nil {
		return "", err
	}
	if !ok {
		app = appParam
	}
	if app == "" {
		app = storage.DefaultApp
	}
	key, ok := storage.ScopedKey(app, name)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrRoomNotFound, name)
	}
	return key, nil
}

// CheckRecordingLimit refuses (*storage.LimitError) turning recording on in
// a room of app when the app's recordings already take its
// max_recording_bytes. A recording under way is not stopped when it passes
// the limit (docs/api.md "Apps").
func (s *Service) CheckRecordingLimit(ctx context.Context, app string) error {
	if app == "" {
		app = storage.DefaultApp
	}
	a, err := s.db.App(ctx, app)
	if err != nil || a.MaxRecordingBytes == nil {
		return err
	}
	n, err := s.db.AppRecordingBytes(ctx, app)
	if err != nil {
		return err
	}
	if n >= *a.MaxRecordingBytes {
		return &storage.LimitError{Limit: storage.LimitRecordingBytes, Max: *a.MaxRecordingBytes}
	}
	return nil
}

// App returns the app id; errors wrap storage.ErrNotFound.
func (s *Service) App(ctx context.Context, id string) (storage.App, error) {
	if id == "" {
		id = storage.DefaultApp
	}
	return s.db.App(ctx, id)
}

// ParticipantLimit returns the app's max_participants, -1 for none.
func (s *Service) ParticipantLimit(ctx context.Context, app string) (int64, error) {
	a, err := s.App(ctx, app)
	if err != nil || a.MaxParticipants == nil {
		return -1, err
	}
	return *a.MaxParticipants, nil
}
