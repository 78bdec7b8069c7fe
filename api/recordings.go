package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/hls"
	"lectern/hls/record"
	"lectern/storage"
)

// Codes of recordings.
const (
	codeRecordingNotFound      = "recording_not_found"
	codeRecordingActive        = "recording_active"
	codeRecordingSession       = "recording_session_invalid"
	codeObjectStoreUnavailable = "object_store_unavailable"
)

// recordingHandlers serve the recordings API and their playback. With no
// recorder they list the database's rows only.
type recordingHandlers struct {
	cfg      Config
	db       *storage.DB
	recorder *record.Recorder
	reporter
}

func (s *recordingHandlers) routes(r router) {
	r.e.GET("/api/v1/rooms/:room/recordings", r.gate.adminOr(access.Moderate), s.listRecordings)
	r.e.GET("/api/v1/rooms/:room/recordings/:recording", r.gate.adminOr(access.Moderate), s.getRecording)
	r.e.DELETE("/api/v1/rooms/:room/recordings/:recording", r.gate.adminOr(access.Moderate), s.deleteRecording)
	r.e.GET("/recordings/:room/:recording/:session/:file", s.playRecording)
}

// recordingJSON is a recording as the API shows it. ended_at is null while
// it is being written; playback_url is null until it is complete.
type recordingJSON struct {
	ID          string     `json:"id"`
	Room        string     `json:"room"`
	Status      string     `json:"status"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
	DurationMS  int64      `json:"duration_ms"`
	SizeBytes   int64      `json:"size_bytes"`
	PlaybackURL *string    `json:"playback_url"`
}

func (s *recordingHandlers) recordingView(r storage.Recording, now time.Time) recordingJSON {
	v := recordingJSON{ID: r.ID, Room: storage.RoomName(r.RoomID), Status: r.Status, StartedAt: r.StartedAt,
		DurationMS: r.Duration.Milliseconds(), SizeBytes: r.SizeBytes}
	if !r.EndedAt.IsZero() {
		v.EndedAt = &r.EndedAt
	}
	if s.recorder != nil {
		if p := s.recorder.PlaybackPath(r, now); p != "" {
			u := s.cfg.PublicURL + p
			v.PlaybackURL = &u
		}
	}
	return v
}

func (s *recordingHandlers) listRecordings(c *gin.Context) {
	rs, err := s.db.Recordings(c.Request.Context(), c.Param("room"))
	if err == nil && len(rs) == 0 {
		// Recordings outlive their room; with neither, nothing is here.
		if _, rerr := s.db.Room(c.Request.Context(), c.Param("room")); errors.Is(rerr, storage.ErrNotFound) {
			err = errorf(http.StatusNotFound, codeRoomNotFound, "room not found")
		}
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	now := time.Now()
	out := make([]recordingJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, s.recordingView(r, now))
	}
	c.JSON(http.StatusOK, gin.H{"recordings": out})
}

// roomRecording returns the path's recording if it belongs to the path's room.
func (s *recordingHandlers) roomRecording(ctx context.Context, room, id string) (storage.Recording, error) {
	r, err := s.db.Recording(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || err == nil && r.RoomID != room {
		return storage.Recording{}, errorf(http.StatusNotFound, codeRecordingNotFound, "room %s has no recording %q", room, id)
	}
	return r, err
}

func (s *recordingHandlers) getRecording(c *gin.Context) {
	r, err := s.roomRecording(c.Request.Context(), c.Param("room"), c.Param("recording"))
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, s.recordingView(r, time.Now()))
}

func (s *recordingHandlers) deleteRecording(c *gin.Context) {
	ctx, room, id := c.Request.Context(), c.Param("room"), c.Param("recording")
	if _, err := s.roomRecording(ctx, room, id); err != nil {
		s.abort(c, err)
		return
	}
	var err error
	if s.recorder != nil {
		err = s.recorder.Delete(ctx, room, id)
	} else {
		err = s.db.DeleteRecording(ctx, id)
	}
	if err != nil {
		s.abort(c, recordingError(err))
		return
	}
	s.log.Info("recording deleted", "room", room, "recording", id)
	c.Status(http.StatusNoContent)
}

// playRecording serves a recording's playlist and media under the signed
// session of its playback URL (docs/hls.md, "Recordings").
func (s *recordingHandlers) playRecording(c *gin.Context) {
	c.Header("Access-Control-Allow-Origin", "*")
	if s.recorder == nil {
		s.abort(c, errorf(http.StatusNotFound, codeRecordingNotFound, "recordings are not served here"))
		return
	}
	err := s.recorder.Serve(c.Writer, c.Request, c.Param("room"), c.Param("recording"), c.Param("session"), c.Param("file"))
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
		c.Abort()
	default:
		c.Header("Cache-Control", "no-store")
		s.abort(c, recordingError(err))
	}
}

// recordingError maps recorder errors to API errors.
func recordingError(err error) error {
	switch {
	case errors.Is(err, record.ErrNotFound), errors.Is(err, storage.ErrNotFound):
		return errorf(http.StatusNotFound, codeRecordingNotFound, "%v", err)
	case errors.Is(err, record.ErrActive):
		return errorf(http.StatusConflict, codeRecordingActive, "the recording is still being written: turn broadcast.record off (or wait for the broadcast to end) first")
	case errors.Is(err, hls.ErrSession):
		return errorf(http.StatusForbidden, codeRecordingSession, "the playback URL is invalid or expired: get a new one from the recordings API")
	case errors.Is(err, record.ErrStore):
		e := errorf(http.StatusServiceUnavailable, codeObjectStoreUnavailable, "the object store did not answer; try again")
		e.RetryAfter = 5
		return e
	}
	return err
}
