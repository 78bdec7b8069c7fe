package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/hls"
	"lectern/rooms"
	"lectern/storage"
	"lectern/usage"
)

// broadcastHandlers serve a room's broadcast settings and what is on air,
// and the HLS output to its viewers.
type broadcastHandlers struct {
	cfg   Config
	rooms *rooms.Service
	hls   *hls.Service
	// usage hears the viewers' playlist requests.
	usage *usage.Tracker
	gate  *gate
	reporter
}

func (s *broadcastHandlers) routes(r router) {
	r.e.GET("/api/v1/rooms/:room/broadcast", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.getBroadcast)
	r.e.PATCH("/api/v1/rooms/:room/broadcast", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.patchBroadcast)
	r.e.GET("/hls/:room/index.m3u8", s.hlsMultivariant)
	r.e.GET("/hls/:room/:session/:stream/:file", s.hlsFile)
}

// hlsMultivariant serves /hls/{room}/index.m3u8 to holders of a token with
// subscribe in the room. The playlist's URIs carry a signed session, so the
// requests that follow need no token.
func (s *broadcastHandlers) hlsMultivariant(c *gin.Context) {
	c.Header("Access-Control-Allow-Origin", "*")
	c.Header("Cache-Control", "no-store")
	claims, g, err := s.gate.participant(c)
	if err != nil {
		s.abort(c, err)
		return
	}
	if !g.Permissions.Has(access.Subscribe) {
		s.abort(c, errorf(http.StatusForbidden, codePermissionDenied, "watching needs the subscribe permission"))
		return
	}
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	if !r.BroadcastHLS {
		s.abort(c, errorf(http.StatusNotFound, codeBroadcastOffline, "room %s does not broadcast over HLS (broadcast.hls is off)", r.ID))
		return
	}
	if err := s.checkViewerLimit(c, r); err != nil {
		s.abort(c, err)
		return
	}
	body, err := s.hls.Multivariant(r.ID, claims.ExpiresAt)
	if errors.Is(err, hls.ErrOffline) {
		err = errorf(http.StatusNotFound, codeBroadcastOffline, "room %s is offline: nothing is on air (the broadcast starts when someone publishes H.264 video)", r.ID)
	}
	if err != nil {
		s.abort(c, broadcastError(err))
		return
	}
	// The media playlist requests that follow carry no token: the viewer's
	// identity is remembered by its address and user agent.
	s.usage.ViewerIdentified(r.ID, viewerKey(c), claims.Identity, claims.Name)
	hls.WriteMultivariant(c.Writer, keyedURIs(body, r.ID))
}

// keyedURIs points the variant URIs of a multivariant playlist of a room of
// an app other than the default one at the room's key: the playlist is
// asked for by the room's ID (/hls/{id}/index.m3u8, the credential decides
// the app), but its session is signed for the key, and the requests that
// follow carry no credential (docs/security.md "Apps"). A variant
// "S/T/v0.m3u8" becomes "../acme~id/S/T/v0.m3u8", so /hls/acme~id/S/T/v0.m3u8.
func keyedURIs(body []byte, key string) []byte {
	if storage.KeyApp(key) == storage.DefaultApp {
		return body
	}
	lines := strings.SplitAfter(string(body), "\n")
	for i, l := range lines {
		if l != "" && l != "\n" && !strings.HasPrefix(l, "#") {
			lines[i] = "../" + key + "/" + l
		}
	}
	return []byte(strings.Join(lines, ""))
}

// viewerKey names the client of an HLS request: its address as the trusted
// proxies tell it, and its user agent.
func viewerKey(c *gin.Context) string { return c.ClientIP() + " " + c.Request.UserAgent() }

// hlsFile serves media playlists, init segments, segments and parts under a session.
func (s *broadcastHandlers) hlsFile(c *gin.Context) {
	c.Header("Access-Control-Allow-Origin", "*")
	playlist := strings.HasSuffix(c.Param("file"), ".m3u8")
	if playlist {
		// Playlist requests are counted as viewers: by the client's address
		// as the trusted proxies tell it, and its user agent.
		c.Request = c.Request.WithContext(hls.WithViewer(c.Request.Context(), viewerKey(c)))
	}
	err := s.hls.Serve(c.Writer, c.Request, c.Param("room"), c.Param("session"), c.Param("stream"), c.Param("file"))
	switch {
	case err == nil:
		if playlist {
			// Served, so the session was valid for the room: only real
			// rooms reach the tracker.
			s.usage.PlaylistRequested(c.Param("room"), viewerKey(c))
		}
	case errors.Is(err, context.Canceled):
		c.Abort() // the viewer left while its request was held
	default:
		c.Header("Cache-Control", "no-store")
		s.abort(c, broadcastError(err))
	}
}

// checkViewerLimit refuses a new HLS viewer of r's app when the app has as
// many viewers on this node as its max_hls_viewers (docs/api.md "Apps").
func (s *broadcastHandlers) checkViewerLimit(c *gin.Context, r storage.Room) error {
	a, err := s.rooms.App(c.Request.Context(), r.App)
	if err != nil || a.MaxHLSViewers == nil {
		return err
	}
	n := s.hls.ViewersWhere(func(room string) bool { return storage.KeyApp(room) == a.ID })
	if int64(n) >= *a.MaxHLSViewers {
		return &storage.LimitError{Limit: storage.LimitHLSViewers, Max: *a.MaxHLSViewers}
	}
	return nil
}
