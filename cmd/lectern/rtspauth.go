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
	// broadcast applies a room's broadcast settings before a session starts
	// (api.Server.EnsureBroadcast); set before the RTSP server runs.
	broadcast func(storage.Room)
}

// room loads a room for a session about to start here.
func (a *rtspAuth) room(ctx context.Context, id string) (storage.Room, error) {
	r, err := a.db.Room(ctx, id)
	if err != nil {
		return storage.Room{}, roomErr(err)
	}
	if a.broadcast != nil {
		a.broadcast(r)
	}
	return r, nil
}

// Token implements ingest.Authorizer.
func (a *rtspAuth) Token(ctx context.Context, room, token string) (ingest.Grant, error) {
	claims, err := a.issuer.Verify(token)
	if err != nil {
		return ingest.Grant{}, err
	}
	g, err := claims.Grant(room)
	if err != nil {
		return ingest.Grant{}, err
	}
	r, err := a.room(ctx, room)
	if err != nil {
		return ingest.Grant{}, err
	}
	return ingest.Grant{Identity: claims.Identity, Name: claims.Name, Publish: g.Permissions.Has(access.Publish),
		Subscribe: g.Permissions.Has(access.Subscribe), Options: api.MediaOptions(r)}, nil
}

// StreamKey implements ingest.Authorizer.
func (a *rtspAuth) StreamKey(ctx context.Context, room string) (string, sfu.RoomOptions, error) {
	r, err := a.room(ctx, room)
	if err != nil {
		return "", sfu.RoomOptions{}, err
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
