package main

import (
	"context"
	"errors"

	"lectern/access"
	"lectern/api"
	"lectern/ingest"
	"lectern/sfu"
	"lectern/storage"
)

// rtspAuth answers the RTSP server's credential questions from the token issuer
// and the store.
type rtspAuth struct {
	db     *storage.DB
	issuer *access.Issuer
}

// Token implements ingest.Authorizer.
func (a rtspAuth) Token(ctx context.Context, room, token string) (ingest.Grant, error) {
	claims, err := a.issuer.Verify(token)
	if err != nil {
		return ingest.Grant{}, err
	}
	g, err := claims.Grant(room)
	if err != nil {
		return ingest.Grant{}, err
	}
	r, err := a.db.Room(ctx, room)
	if err != nil {
		return ingest.Grant{}, roomErr(err)
	}
	return ingest.Grant{Identity: claims.Identity, Name: claims.Name, Publish: g.Permissions.Has(access.Publish),
		Subscribe: g.Permissions.Has(access.Subscribe), Options: api.MediaOptions(r)}, nil
}

// StreamKey implements ingest.Authorizer.
func (a rtspAuth) StreamKey(ctx context.Context, room string) (string, sfu.RoomOptions, error) {
	r, err := a.db.Room(ctx, room)
	if err != nil {
		return "", sfu.RoomOptions{}, roomErr(err)
	}
	k, err := a.db.StreamKey(ctx, room)
	if errors.Is(err, storage.ErrNotFound) {
		return "", api.MediaOptions(r), nil
	}
	if err != nil {
		return "", sfu.RoomOptions{}, err
	}
	return k.Key, api.MediaOptions(r), nil
}

func roomErr(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return ingest.ErrRoomNotFound
	}
	return err
}
