package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/rooms"
	"lectern/storage"
)

// streamKeyJSON is a room's encoder credential with ready-to-paste settings.
type streamKeyJSON struct {
	StreamKey string    `json:"stream_key"`
	CreatedAt time.Time `json:"created_at"`
	// RTSPURL is the publish URL with the key as password, for ffmpeg and GStreamer.
	RTSPURL string `json:"rtsp_url"`
	// WHIPURL is the WHIP endpoint; OBS sends the key as its Bearer token.
	WHIPURL string `json:"whip_url"`
}

func (s *roomHandlers) streamKeyView(k storage.StreamKey) streamKeyJSON {
	v := streamKeyJSON{StreamKey: k.Key, CreatedAt: k.CreatedAt, WHIPURL: s.cfg.serviceURL() + "/whip/" + k.RoomID}
	if s.cfg.RTSPURL != "" {
		v.RTSPURL = rtspWithKey(s.cfg.RTSPURL, k.RoomID, k.Key)
	}
	return v
}

// rtspWithKey is base/room with the key in the userinfo password.
func rtspWithKey(base, room, key string) string {
	const scheme = "rtsp://"
	if len(base) > len(scheme) && base[:len(scheme)] == scheme {
		return scheme + "encoder:" + key + "@" + base[len(scheme):] + "/" + room
	}
	return base + "/" + room
}

// rotateStreamKey makes a new stream key for the room; the old one stops working.
func (s *roomHandlers) rotateStreamKey(c *gin.Context) {
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	k, err := s.rooms.RotateStreamKey(c.Request.Context(), r.ID)
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("stream key rotated", "room", r.ID)
	c.JSON(http.StatusCreated, s.streamKeyView(k))
}

func (s *roomHandlers) getStreamKey(c *gin.Context) {
	k, err := s.rooms.StreamKeyOf(c.Request.Context(), c.Param("room"))
	if errors.Is(err, rooms.ErrNoStreamKey) {
		err = errorf(http.StatusNotFound, codeStreamKeyNotFound, "this room has no stream key; POST creates one")
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, s.streamKeyView(k))
}

func (s *roomHandlers) deleteStreamKey(c *gin.Context) {
	err := s.rooms.DeleteStreamKey(c.Request.Context(), c.Param("room"))
	if errors.Is(err, rooms.ErrNoStreamKey) {
		err = errorf(http.StatusNotFound, codeStreamKeyNotFound, "this room has no stream key")
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("stream key deleted", "room", c.Param("room"))
	c.Status(http.StatusNoContent)
}
