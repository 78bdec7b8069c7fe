package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"lectern/storage"
	"lectern/storage/objstore"
)

// A recording plays from /recordings/{room}/{id}/{session}/index.m3u8, where
// session signs the room and the recording with an expiry (docs/hls.md,
// "Recordings"). The playlist's URIs are relative, so the session carries
// over to the init sections and segments. Lectern serves the playlist; it
// serves the media files of a local store itself and redirects those of an
// S3 store to presigned GET URLs.

// roomName matches what can be a room key (the API allows less): a room
// ID, or "<app>~<id>" outside the default app (storage.RoomKey).
var roomName = regexp.MustCompile(`^[A-Za-z0-9_~-]{1,129}$`)

// fileName matches the files of a recording.
var fileName = regexp.MustCompile(`^(index\.m3u8|(p[0-9]{1,6}-)?(init-[0-9]{1,6}\.mp4|seg-[0-9]{6,9}\.m4s))$`)

// PlaybackPath returns the path (under the public URL) of a complete
// recording's playlist, valid for PlaybackTTL from now; "" for a recording
// that is not complete.
func (r *Recorder) PlaybackPath(rec storage.Recording, now time.Time) string {
	if rec.Status != storage.RecordingComplete {
		return ""
	}
	session := r.sign.Sign(rec.RoomID+"/"+rec.ID, now.Add(r.cfg.PlaybackTTL))
	return "/recordings/" + rec.RoomID + "/" + rec.ID + "/" + session + "/" + playlistName
}

// Serve answers a request for a file of a recording under a session. It
// returns an error (hls.ErrSession, ErrNotFound, ErrStore) before writing
// anything, or nil once it has answered.
func (r *Recorder) Serve(w http.ResponseWriter, req *http.Request, room, id, session, file string) error {
	if err := r.sign.Check(room+"/"+id, session, time.Now()); err != nil {
		return err
	}
	key, ok := playbackKey(room, id, file)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, file)
	}
	ctx := req.Context()
	h := w.Header()
	if p, ok := r.store.(objstore.Presigner); ok && file != playlistName {
		u, err := p.PresignGet(ctx, key, r.cfg.PresignTTL)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrStore, err)
		}
		h.Set("Cache-Control", "private, no-store")
		http.Redirect(w, req, u, http.StatusFound)
		return nil
	}
	o, err := r.open(ctx, key)
	if err != nil {
		return err
	}
	defer o.Close()
	ctype := "video/mp4"
	if file == playlistName {
		ctype = "application/vnd.apple.mpegurl"
	}
	// A complete recording never changes; the session in the path keeps
	// caches private to whoever was given the URL.
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "private, max-age=3600, immutable")
	h.Set("Content-Length", strconv.FormatInt(o.Size, 10))
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		io.Copy(w, o)
	}
	return nil
}

// playbackKey is the object key of a recording's file named in a playback
// path; false if the path cannot name one (it then reaches no store).
func playbackKey(room, id, file string) (string, bool) {
	if !roomName.MatchString(room) || !validID(id) || !fileName.MatchString(file) {
		return "", false
	}
	return prefix(room, id) + file, true
}

func (r *Recorder) open(ctx context.Context, key string) (*objstore.Object, error) {
	o, err := r.store.Open(ctx, key)
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	return o, nil
}
