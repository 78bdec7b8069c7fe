package main

import (
	"context"
	"errors"
	"net/url"

	"lectern/access"
	"lectern/ingest"
	"lectern/rooms"
	"lectern/sfu"
)

// rtspAuth answers the RTSP server's credential questions through the room
// rules (rooms.Service), as the HTTP API does.
type rtspAuth struct {
	rooms *rooms.Service
}

// Token implements ingest.Authorizer: the token's current grant in the room
// (revoked tokens, deleted members and bans refused), with the room's media
// options and its broadcast settings applied here first.
func (a *rtspAuth) Token(ctx context.Context, room, token string) (ingest.Grant, error) {
	claims, g, err := a.rooms.Verify(ctx, token, room)
	if err != nil {
		return ingest.Grant{}, roomErr(err)
	}
	r, err := a.rooms.Room(ctx, room)
	if err != nil {
		return ingest.Grant{}, roomErr(err)
	}
	a.rooms.EnsureBroadcast(r)
	return ingest.Grant{Identity: claims.Identity, Name: claims.Name, Publish: g.Permissions.Has(access.Publish),
		Subscribe: g.Permissions.Has(access.Subscribe), Options: rooms.MediaOptions(r), Sources: g.Sources}, nil
}

// StreamKey implements ingest.Authorizer.
func (a *rtspAuth) StreamKey(ctx context.Context, room string) (string, sfu.RoomOptions, error) {
	key, opts, err := a.rooms.StreamKey(ctx, room)
	return key, opts, roomErr(err)
}

// RoomKey implements ingest.Scoper: the credential's app decides whose room
// the path names; without one that names an app, the query's "app".
func (a *rtspAuth) RoomKey(ctx context.Context, name, credential, query string) (string, error) {
	q, _ := url.ParseQuery(query)
	key, err := a.rooms.RoomKey(ctx, name, credential, q.Get("app"))
	return key, roomErr(err)
}

func roomErr(err error) error {
	if errors.Is(err, rooms.ErrRoomNotFound) {
		return ingest.ErrRoomNotFound
	}
	return err
}
