package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/chat"
	"lectern/rooms"
	"lectern/storage"
)

// History page sizes.
const (
	defaultHistoryLimit = 50
	maxHistoryLimit     = 200
)

// chatHandlers serve chat's REST endpoints and its websocket (docs/api.md
// "Chat"); the room websocket's chat messages go through chatCommand.
type chatHandlers struct {
	cfg  Config
	chat *chat.Hub
	// rooms stores a room's chat settings.
	rooms *rooms.Service
	caps  *sessionCaps
	// sockets are the open websockets, which Server.Close ends.
	sockets *openSockets
	gate    *gate
	reporter
}

func (s *chatHandlers) routes(r router) {
	r.v1.GET("/rooms/:room/messages", r.gate.adminOr(access.Receive), s.listMessages)
	r.v1.POST("/rooms/:room/messages", r.gate.adminOr(access.Send), s.postMessage)
	r.v1.PATCH("/rooms/:room/messages/:message", r.gate.adminOr(access.Moderate), s.updateMessage)
	r.v1.DELETE("/rooms/:room/messages/:message", r.gate.adminOr(0), s.deleteMessage)
	r.v1.GET("/rooms/:room/chat", r.gate.adminOr(0), s.getChatSettings)
	r.v1.PATCH("/rooms/:room/chat", r.gate.adminOr(access.Moderate), s.updateChatSettings)
	r.v1.GET("/rooms/:room/chat/mutes", r.gate.adminOr(access.Moderate), s.listMutes)
	r.v1.PUT("/rooms/:room/chat/mutes/:identity", r.gate.adminOr(access.Moderate), s.putMute)
	r.v1.DELETE("/rooms/:room/chat/mutes/:identity", r.gate.adminOr(access.Moderate), s.deleteMute)
	r.v1.GET("/rooms/:room/chat/ws", s.chatSocket)
}

// chatViewer is the caller as the chat hub sees it.
func chatViewer(p principal, roomID string) chat.Viewer {
	if p.admin {
		return chat.Viewer{Operator: true}
	}
	// adminOr set the token's current grant in the path's room.
	return chat.Viewer{Identity: p.claims.Identity, Name: p.claims.Name, Permissions: p.grant.Permissions}
}

// historyPage is GET /rooms/{room}/messages.
type historyPage struct {
	Messages []chat.Message `json:"messages"`
	// NextBefore, when set, asks for the previous page (?before=NextBefore).
	NextBefore int64 `json:"next_before,omitempty"`
}

func (s *chatHandlers) listMessages(c *gin.Context) {
	before, err := queryInt(c, "before", 0, 1, 1<<62)
	if err != nil {
		s.abort(c, err)
		return
	}
	limit, err := queryInt(c, "limit", defaultHistoryLimit, 1, maxHistoryLimit)
	if err != nil {
		s.abort(c, err)
		return
	}
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	ms, err := s.chat.History(c.Request.Context(), r.ID, chatViewer(caller(c), r.ID), before, int(limit))
	if err != nil {
		s.abort(c, chatError(err))
		return
	}
	page := historyPage{Messages: ms}
	if len(ms) == int(limit) {
		page.NextBefore = ms[0].ID
	}
	c.JSON(http.StatusOK, page)
}

// queryInt reads an optional integer query parameter in [min, max].
func queryInt(c *gin.Context, name string, fallback, min, max int64) (int64, error) {
	s, ok := c.GetQuery(name)
	if !ok {
		return fallback, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, errorf(http.StatusBadRequest, codeInvalidChatMessage, "%s: must be an integer from %d to %d", name, min, max)
	}
	return n, nil
}

// messageRequest is the body of POST /rooms/{room}/messages.
type messageRequest struct {
	Text string `json:"text"`
	To   string `json:"to"`
}

func (s *chatHandlers) postMessage(c *gin.Context) {
	var req messageRequest
	if err := decodeUTF8JSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	roomID := c.Param("room")
	m, err := s.chat.Post(c.Request.Context(), roomID, chatViewer(caller(c), roomID), req.Text, req.To)
	if err != nil {
		s.abort(c, chatError(err))
		return
	}
	c.JSON(http.StatusCreated, m)
}

// decodeUTF8JSON is decodeJSON for bodies whose text must arrive intact:
// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
func decodeUTF8JSON(c *gin.Context, maxBody int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return errorf(http.StatusBadRequest, codeInvalidJSON, "cannot read the request body")
	}
	if !utf8.Valid(body) {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "the body is not valid UTF-8")
	}
	return unmarshalStrict(body, v)
}

// messageStateRequest is the body of PATCH /rooms/{room}/messages/{id}.
type messageStateRequest struct {
	State string `json:"state"`
}

func (s *chatHandlers) updateMessage(c *gin.Context) {
	id, ok := s.messageID(c)
	if !ok {
		return
	}
	var req messageStateRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	roomID := c.Param("room")
	v := chatViewer(caller(c), roomID)
	var m chat.Message
	var err error
	switch req.State {
	case storage.StateApproved:
		m, err = s.chat.Approve(c.Request.Context(), roomID, v, id)
	case storage.StateAnswered:
		m, err = s.chat.Answer(c.Request.Context(), roomID, v, id)
	default:
		err = errorf(http.StatusBadRequest, codeInvalidChatMessage, "state: %q is not approved or answered", req.State)
	}
	if err != nil {
		s.abort(c, chatError(err))
		return
	}
	c.JSON(http.StatusOK, m)
}

func (s *chatHandlers) deleteMessage(c *gin.Context) {
	id, ok := s.messageID(c)
	if !ok {
		return
	}
	roomID := c.Param("room")
	if _, err := s.chat.Delete(c.Request.Context(), roomID, chatViewer(caller(c), roomID), id); err != nil {
		s.abort(c, chatError(err))
		return
	}
	c.Status(http.StatusNoContent)
}

// messageID parses the path's message id or aborts with message_not_found.
func (s *chatHandlers) messageID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("message"), 10, 64)
	if err != nil || id <= 0 {
		s.abort(c, errorf(http.StatusNotFound, codeMessageNotFound, "message not found"))
		return 0, false
	}
	return id, true
}

// chatSettingsJSON is a room's chat settings.
type chatSettingsJSON struct {
	// Questions: in a webinar, the audience PIN also grants send, and the
	// audience's messages are questions for moderators to approve.
	Questions bool `json:"questions"`
	// SlowModeSeconds: when positive, senders without moderate wait this long
	// between messages.
	SlowModeSeconds int `json:"slow_mode_seconds"`
}

func chatSettingsView(r storage.Room) chatSettingsJSON {
	return chatSettingsJSON{Questions: r.ChatQuestions, SlowModeSeconds: r.ChatSlowModeSeconds}
}

// chatSettingsRequest is the body of PATCH /rooms/{room}/chat and the chat
// field of a room request: any of the settings.
type chatSettingsRequest struct {
	Questions       *bool `json:"questions"`
	SlowModeSeconds *int  `json:"slow_mode_seconds"`
}

// apply validates req and writes it into r.
func (req chatSettingsRequest) apply(r *storage.Room, code string) error {
	if req.SlowModeSeconds != nil {
		if n := *req.SlowModeSeconds; n < 0 || n > int(chat.MaxSlowMode/time.Second) {
			return errorf(http.StatusBadRequest, code, "slow_mode_seconds: must be 0 (off) to %d", int(chat.MaxSlowMode/time.Second))
		}
		r.ChatSlowModeSeconds = *req.SlowModeSeconds
	}
	if req.Questions != nil {
		r.ChatQuestions = *req.Questions
	}
	return nil
}

func (s *chatHandlers) getChatSettings(c *gin.Context) {
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, chatSettingsView(r))
}

func (s *chatHandlers) updateChatSettings(c *gin.Context) {
	var req chatSettingsRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	if err := req.apply(&r, codeInvalidChatSettings); err != nil {
		s.abort(c, err)
		return
	}
	updated, err := s.rooms.SetChatSettings(c.Request.Context(), r.ID, r.ChatQuestions, r.ChatSlowModeSeconds)
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("chat settings changed", "room", r.ID, "questions", updated.ChatQuestions, "slow_mode_seconds", updated.ChatSlowModeSeconds)
	c.JSON(http.StatusOK, chatSettingsView(updated))
}
