package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/rooms"
	"lectern/sfu"
	"lectern/storage"
)

// Error is an API error: an HTTP status, a stable machine code and a sentence for
// people. Handlers return it (or any error, which becomes "internal").
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter, when positive, is sent as the Retry-After header in seconds.
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Stable error codes. Clients may rely on these strings.
const (
	codeInvalidJSON      = "invalid_json"
	codeBodyTooLarge     = "body_too_large"
	codeInvalidRoom      = "invalid_room"
	codeInvalidMember    = "invalid_member"
	codeInvalidToken     = "invalid_token_request"
	codeInvalidJoin      = "invalid_join"
	codeUnauthorized     = "unauthorized"
	codeInvalidAPIKey    = "invalid_api_key"
	codeTokenMalformed   = "token_malformed"
	codeTokenExpired     = "token_expired"
	codeTokenInvalid     = "token_invalid"
	codeTokenWrongRoom   = "token_wrong_room"
	codeTokenRevoked     = "token_revoked"
	codeBanned           = "banned"
	codeAdminRequired    = "admin_required"
	codePermissionDenied = "permission_denied"
	codeWrongPIN         = "wrong_pin"
	codeTooManyAttempts  = "too_many_attempts"
	// codeTooManyJoins: the address made too many PIN joins (rooms.ErrTooManyJoins).
	codeTooManyJoins = "too_many_joins"
	// codePINChecksSlowed: the room is under a PIN-guessing flood and its PIN
	// checks are metered (rooms.ErrPINChecksMetered).
	codePINChecksSlowed = "pin_checks_slowed"
	codeRoomLocked      = "room_locked"
	codeRoomNotFound    = "room_not_found"
	codeMemberNotFound  = "member_not_found"
	codeRoomExists      = "room_exists"
	codeMemberExists    = "member_exists"
	codeNotFound        = "not_found"
	codeInvalidPath     = "invalid_path"
	codeRequestTimeout  = "request_timeout"
	codeTooManySessions = "too_many_sessions"
	codeRoomFull        = "room_full"
	// codeNodeUnreachable: another node holds the room and did not answer.
	codeNodeUnreachable   = "node_unreachable"
	codeMethodNotAllowed  = "method_not_allowed"
	codeInternal          = "internal"
	codeDatabaseUnhealthy = "database_unavailable"
	codeStreamKeyNotFound = "stream_key_not_found"
	codeInvalidStreamKey  = "invalid_stream_key"
	// WHIP and WHEP (docs/protocol.md).
	codeSessionNotFound       = "session_not_found"
	codeUnsupportedMediaType  = "unsupported_media_type"
	codePreconditionFailed    = "precondition_failed"
	codeICERestartUnsupported = "ice_restart_unsupported"
	// Apps (docs/api.md "Apps").
	codeOperatorRequired = "operator_required"
	codeAppLimitReached  = "app_limit_reached"
	codeAppNotFound      = "app_not_found"
	codeAppExists        = "app_exists"
	codeAppNotEmpty      = "app_not_empty"
	codeInvalidApp       = "invalid_app"
	codeKeyNotFound      = "api_key_not_found"
)

// apiError maps any error a handler returns to an *Error. This is the one place
// where package errors become HTTP statuses and codes.
func apiError(err error) *Error {
	var e *Error
	var tooLarge *http.MaxBytesError
	var limit *storage.LimitError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &tooLarge):
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "request body is larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, access.ErrTokenMalformed):
		return errorf(http.StatusUnauthorized, codeTokenMalformed, "the access token is malformed")
	case errors.Is(err, access.ErrTokenExpired):
		return errorf(http.StatusUnauthorized, codeTokenExpired, "the access token has expired")
	case errors.Is(err, access.ErrTokenInvalid):
		return errorf(http.StatusUnauthorized, codeTokenInvalid, "the access token's signature or claims are invalid")
	case errors.Is(err, access.ErrWrongRoom):
		return errorf(http.StatusUnauthorized, codeTokenWrongRoom, "the access token is not valid for this room")
	case errors.Is(err, rooms.ErrTokenRevoked):
		return errorf(http.StatusUnauthorized, codeTokenRevoked, "the access token was revoked in this room")
	case errors.Is(err, rooms.ErrBanned):
		return errorf(http.StatusForbidden, codeBanned, "this identity is banned from the room")
	case errors.As(err, &limit):
		return errorf(http.StatusForbidden, codeAppLimitReached, "the app has reached its limit %s (%d); the server operator can raise it", limit.Limit, limit.Max)
	case errors.Is(err, rooms.ErrRoomNotFound):
		return errorf(http.StatusNotFound, codeRoomNotFound, "room not found")
	case errors.Is(err, rooms.ErrWrongPIN):
		return errorf(http.StatusForbidden, codeWrongPIN, "the PIN is not right for this room")
	case errors.Is(err, rooms.ErrRoomLocked):
		return errorf(http.StatusLocked, codeRoomLocked, "a moderator locked this room against new PIN joins; ask the host for a link")
	case errors.Is(err, rooms.ErrWrongStreamKey):
		return errorf(http.StatusUnauthorized, codeInvalidStreamKey, "the stream key is not valid for this room")
	default:
		return errorf(http.StatusInternalServerError, codeInternal, "internal error")
	}
}

// errorCodeKey is the gin context key of the code abort answered with.
const errorCodeKey = "lectern.error_code"

// reporter answers a failed request and logs what went wrong. Every handler
// group embeds one, for abort and log.
type reporter struct{ log *slog.Logger }

// abort writes err as the JSON error response and stops the handler chain.
// Internal errors are logged with the request ID; their text never reaches the client.
func (r reporter) abort(c *gin.Context, err error) {
	e := apiError(err)
	if e.Code == codeInternal {
		r.log.Error("request failed", "request_id", c.GetString(requestIDKey), "route", c.FullPath(), "err", err)
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	c.Set(errorCodeKey, e.Code) // for limitGuesses
	c.AbortWithStatusJSON(e.Status, e)
}

// notFound reports a missing room or member as its own code; other storage errors pass through.
func notFound(err error, code, what string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return errorf(http.StatusNotFound, code, "%s not found", what)
	}
	return err
}

// Codes of the room websocket.
const (
	codeInvalidMessage      = "invalid_message"
	codeInvalidSDP          = "invalid_sdp"
	codeUnsupportedCodecs   = "unsupported_codecs"
	codeTrackNotFound       = "track_not_found"
	codeParticipantNotFound = "participant_not_found"
	codeInvalidLayer        = "invalid_layer"
	codeInvalidSource       = "invalid_source"
	codeMediaRefused        = "media_refused"
	codeNegotiationFailed   = "negotiation_failed"
	codeParticipantClosed   = "participant_closed"
	codeTrackNotWebRTC      = "track_not_webrtc"
)

// mediaError maps SFU errors to API errors.
func mediaError(err error) *Error {
	switch {
	case errors.Is(err, sfu.ErrNoPublish):
		return errorf(http.StatusForbidden, codePermissionDenied, "this needs the publish permission")
	case errors.Is(err, sfu.ErrNoSubscribe):
		return errorf(http.StatusForbidden, codePermissionDenied, "this needs the subscribe permission")
	case errors.Is(err, sfu.ErrNoModerate):
		return errorf(http.StatusForbidden, codePermissionDenied, "this needs the moderate permission")
	case errors.Is(err, sfu.ErrBadSDP):
		return errorf(http.StatusBadRequest, codeInvalidSDP, "%v", err)
	case errors.Is(err, sfu.ErrUnsupportedCodecs):
		var ce *sfu.CodecError
		if errors.As(err, &ce) {
			return errorf(http.StatusUnsupportedMediaType, codeUnsupportedCodecs, "%s", ce.Reason())
		}
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedCodecs, "%v", err)
	case errors.Is(err, sfu.ErrTrackNotFound):
		return errorf(http.StatusNotFound, codeTrackNotFound, "%v", err)
	case errors.Is(err, sfu.ErrParticipantNotFound):
		return errorf(http.StatusNotFound, codeParticipantNotFound, "%v", err)
	case errors.Is(err, sfu.ErrBadLayer):
		return errorf(http.StatusBadRequest, codeInvalidLayer, "%v", err)
	case errors.Is(err, sfu.ErrBadSource):
		return errorf(http.StatusBadRequest, codeInvalidSource, "%v", err)
	case errors.Is(err, sfu.ErrRefusedByPolicy):
		var pe *sfu.PolicyError
		if errors.As(err, &pe) {
			return errorf(http.StatusForbidden, codeMediaRefused, "%s", pe.Reason())
		}
		return errorf(http.StatusForbidden, codeMediaRefused, "%v", err)
	case errors.Is(err, sfu.ErrNegotiation):
		return errorf(http.StatusBadRequest, codeNegotiationFailed, "%v", err)
	case errors.Is(err, sfu.ErrNotWebRTC):
		return errorf(http.StatusConflict, codeTrackNotWebRTC, "%v", err)
	case errors.Is(err, sfu.ErrClosed):
		return errorf(http.StatusGone, codeParticipantClosed, "the participant has left")
	}
	return apiError(err)
}

// Codes of chat (docs/api.md "Chat", docs/protocol.md "Chat").
const (
	codeInvalidChatMessage  = "invalid_chat_message"
	codeInvalidChatSettings = "invalid_chat_settings"
	codeInvalidMute         = "invalid_mute"
	codeChatRateLimited     = "chat_rate_limited"
	codeChatSlowMode        = "chat_slow_mode"
	codeChatMuted           = "chat_muted"
	codeMessageNotFound     = "message_not_found"
	codeNotMuted            = "not_muted"
	codeChatStateConflict   = "chat_state_conflict"
	codeUnavailable         = "unavailable"
)
