package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"lectern/chat"
)

// maxChatFrame bounds one frame from a chat client: the longest text, JSON
// escaped, fits with room to spare.
const maxChatFrame = 64 << 10

// chatFrame is a message a client sends on a chat websocket (docs/protocol.md
// "Chat"). The room websocket may carry the same types.
type chatFrame struct {
	ID       string  `json:"id,omitempty"`
	Type     string  `json:"type"`
	Text     *string `json:"text,omitempty"`
	To       string  `json:"to,omitempty"`
	Message  int64   `json:"message,omitempty"`
	Identity string  `json:"identity,omitempty"`
	Seconds  *int64  `json:"seconds,omitempty"`
}

// Chat frame types from clients.
const (
	chatSend    = "chat_send"
	chatDelete  = "chat_delete"
	chatApprove = "chat_approve"
	chatAnswer  = "chat_answer"
	chatMute    = "chat_mute"
)

// isChatFrame reports whether a client message type belongs to chat.
func isChatFrame(typ string) bool {
	switch typ {
	case chatSend, chatDelete, chatApprove, chatAnswer, chatMute:
		return true
	}
	return false
}

// decodeChatFrame parses and checks one frame. Errors are *Error: code
// invalid_message for the frame's shape, invalid_chat_message for its text
// or recipient.
func decodeChatFrame(data []byte) (chatFrame, error) {
	var f chatFrame
	if !utf8.Valid(data) {
		// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
		return f, errorf(http.StatusBadRequest, codeInvalidMessage, "the frame is not valid UTF-8")
	}
	if err := unmarshalStrict(data, &f); err != nil {
		return chatFrame{ID: frameID(data)}, errorf(http.StatusBadRequest, codeInvalidMessage, "%s", err.(*Error).Message)
	}
	bad := func(format string, args ...any) (chatFrame, error) {
		return f, errorf(http.StatusBadRequest, codeInvalidMessage, "%s: %s", f.Type, fmt.Sprintf(format, args...))
	}
	if len(f.ID) > maxMessageIDBytes {
		f.ID = ""
		return bad("id: longer than %d bytes", maxMessageIDBytes)
	}
	switch f.Type {
	case chatSend:
		if f.Text == nil {
			return bad("text: is required")
		}
		if err := chat.CheckText(*f.Text); err != nil {
			return f, chatError(err)
		}
		if f.To != "" {
			if err := chat.CheckRecipient(f.To); err != nil {
				return f, chatError(err)
			}
		}
	case chatDelete, chatApprove, chatAnswer:
		if f.Message <= 0 {
			return bad("message: a message id is required")
		}
	case chatMute:
		if chat.CheckRecipient(f.Identity) != nil {
			return bad("identity: must be 1 to 128 letters, digits or . _ @ -")
		}
		if max := int64(chat.MaxMute / time.Second); f.Seconds == nil || *f.Seconds < 0 || *f.Seconds > max {
			return bad("seconds: must be 0 (unmute) to %d", max)
		}
	case "ping", "leave":
	case "":
		return f, errorf(http.StatusBadRequest, codeInvalidMessage, "type: is required")
	default:
		return f, errorf(http.StatusBadRequest, codeInvalidMessage, "type: %q is not a chat message this server knows", f.Type)
	}
	return f, nil
}

// chatReply is what the server answers on a chat websocket: an
// acknowledgement (with the stored message) or an error, in the shape of the
// room websocket's replies.
type chatReply struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	// Chat is the stored message of chat_sent, and the changed one of ok.
	Chat *chat.Message `json:"chat,omitempty"`
	// Errors.
	Code         string `json:"code,omitempty"`
	Message      string `json:"message,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

func chatErrorReply(id string, err error) chatReply {
	e := chatError(err)
	r := chatReply{Type: "error", ID: id, Code: e.Code, Message: e.Message}
	if limit, ok := errors.AsType[*chat.LimitError](err); ok {
		r.RetryAfterMS = max(1, limit.RetryAfter.Milliseconds())
	}
	return r
}
