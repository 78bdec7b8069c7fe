package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/chat"
	"lectern/storage"
)

// muteJSON is a member's chat mute.
type muteJSON struct {
	Identity string    `json:"identity"`
	Until    time.Time `json:"until"`
}

func muteView(m storage.ChatMute) muteJSON { return muteJSON{Identity: m.Identity, Until: m.Until} }

// muteRequest is the body of PUT /rooms/{room}/chat/mutes/{identity}.
type muteRequest struct {
	Seconds int64 `json:"seconds"`
}

func (s *chatHandlers) listMutes(c *gin.Context) {
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	mutes, err := s.chat.Mutes(c.Request.Context(), r.ID, chatViewer(caller(c), r.ID))
	if err != nil {
		s.abort(c, chatError(err))
		return
	}
	out := make([]muteJSON, len(mutes))
	for i, m := range mutes {
		out[i] = muteView(m)
	}
	c.JSON(http.StatusOK, gin.H{"mutes": out})
}

func (s *chatHandlers) putMute(c *gin.Context) {
	var req muteRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	identity := c.Param("identity")
	if err := chat.CheckRecipient(identity); err != nil {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidMute, "identity: must be 1 to 128 letters, digits or . _ @ -"))
		return
	}
	if max := int64(chat.MaxMute / time.Second); req.Seconds < 1 || req.Seconds > max {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidMute, "seconds: must be 1 to %d", max))
		return
	}
	roomID := c.Param("room")
	m, err := s.chat.Mute(c.Request.Context(), roomID, chatViewer(caller(c), roomID), identity, time.Duration(req.Seconds)*time.Second)
	if err != nil {
		s.abort(c, chatError(err))
		return
	}
	s.log.Info("chat muted", "room", roomID, "identity", identity, "until", m.Until)
	c.JSON(http.StatusOK, muteView(m))
}

func (s *chatHandlers) deleteMute(c *gin.Context) {
	roomID, identity := c.Param("room"), c.Param("identity")
	if err := s.chat.Unmute(c.Request.Context(), roomID, chatViewer(caller(c), roomID), identity); err != nil {
		s.abort(c, chatError(err))
		return
	}
	s.log.Info("chat unmuted", "room", roomID, "identity", identity)
	c.Status(http.StatusNoContent)
}
