package api

import (
	"errors"
	"net/http"
	"time"

	"lectern/chat"
)

// chatError maps chat hub errors to API errors; others go to apiError.
func chatError(err error) *Error {
	var invalid *chat.InvalidError
	var limit *chat.LimitError
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &invalid):
		return errorf(http.StatusBadRequest, codeInvalidChatMessage, "%s", invalid.Reason)
	case errors.As(err, &limit):
		var out *Error
		switch {
		case errors.Is(err, chat.ErrMuted):
			out = errorf(http.StatusForbidden, codeChatMuted, "a moderator muted your chat in this room for %s more", roundUp(limit.RetryAfter))
		case errors.Is(err, chat.ErrSlowMode):
			out = errorf(http.StatusTooManyRequests, codeChatSlowMode, "the room is in slow mode; you may post again in %s", roundUp(limit.RetryAfter))
		default:
			out = errorf(http.StatusTooManyRequests, codeChatRateLimited, "too many messages; try again in %s", roundUp(limit.RetryAfter))
		}
		out.RetryAfter = seconds(limit.RetryAfter)
		return out
	case errors.Is(err, chat.ErrNoSend), errors.Is(err, chat.ErrNoReceive), errors.Is(err, chat.ErrNoModerate),
		errors.Is(err, chat.ErrNoIdentity), errors.Is(err, chat.ErrNoDirect):
		return errorf(http.StatusForbidden, codePermissionDenied, "%s", trimPackage(err))
	case errors.Is(err, chat.ErrRoomNotFound):
		return errorf(http.StatusNotFound, codeRoomNotFound, "room not found")
	case errors.Is(err, chat.ErrMessageNotFound):
		return errorf(http.StatusNotFound, codeMessageNotFound, "message not found")
	case errors.Is(err, chat.ErrNotMuted):
		return errorf(http.StatusNotFound, codeNotMuted, "that member is not muted in this room")
	case errors.Is(err, chat.ErrWrongState):
		return errorf(http.StatusConflict, codeChatStateConflict, "%s", trimPackage(err))
	case errors.Is(err, chat.ErrClosed):
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the server is shutting down")
	}
	return apiError(err)
}

// trimPackage drops the "chat: " prefix of a hub error, for people.
func trimPackage(err error) string {
	s := err.Error()
	if len(s) > 6 && s[:6] == "chat: " {
		return s[6:]
	}
	return s
}

// roundUp shows a wait in whole seconds, at least 1.
func roundUp(d time.Duration) time.Duration {
	return time.Duration(seconds(d)) * time.Second
}
