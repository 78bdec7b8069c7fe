package cluster

import (
	"context"
	"errors"

	"lectern/storage"
)

// URLs presents a Node to the servers that redirect clients (api, ingest):
// placements as the owner's base URL, "" when the room is served here. A room
// that does not exist, or that no live node can take, is served here, where
// the handler refuses it or runs it as the last node standing.
type URLs struct {
	n    *Node
	rtsp bool
}

// HTTP returns the node's placements as HTTP base URLs.
func (n *Node) HTTP() URLs { return URLs{n: n} }

// RTSP returns the node's placements as RTSP base URLs.
func (n *Node) RTSP() URLs { return URLs{n: n, rtsp: true} }

// Place is Node.Place as a URL; for RTSP, Node.PlaceHere, since encoders do
// not follow redirects of ANNOUNCE.
func (u URLs) Place(ctx context.Context, room string) (string, error) {
	if u.rtsp {
		return u.url(u.n.PlaceHere(ctx, room))
	}
	return u.url(u.n.Place(ctx, room))
}

// Lookup is Node.Lookup as a URL.
func (u URLs) Lookup(ctx context.Context, room string) (string, error) {
	return u.url(u.n.Lookup(ctx, room))
}

// Forget drops what this node remembers of room's owner (Lookup's answers
// may be up to a second old), for a caller that found that owner gone: a
// node that left the cluster tells no one, unlike one that died.
func (u URLs) Forget(room string) {
	u.n.cacheMu.Lock()
	defer u.n.cacheMu.Unlock()
	delete(u.n.cache, room)
	u.n.cacheGen++
}

func (u URLs) url(o Owner, err error) (string, error) {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	case o.Local:
		return "", nil
	case u.rtsp:
		return o.RTSPURL, nil
	}
	return o.URL, nil
}

// Peers returns the advertised HTTP base URLs of the other live nodes, for
// questions every node must answer (the API's list of live rooms).
func (u URLs) Peers(ctx context.Context) ([]string, error) {
	nodes, err := u.n.db.Nodes(ctx, u.n.cfg.DeadAfter)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, nd := range nodes {
		if nd.Live && nd.ID != u.n.cfg.NodeID && nd.URL != "" {
			out = append(out, nd.URL)
		}
	}
	return out, nil
}
