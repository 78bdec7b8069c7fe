package api

import (
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"lectern/access"
	"lectern/rooms"
)

// Frames of the stage websocket (docs/protocol.md "The stage").
const (
	// From anyone in the room: their own hand and invitation.
	stageRaise   = "hand_raise"
	stageLower   = "hand_lower"
	stageAccept  = "stage_accept"
	stageDecline = "stage_decline"
	stageLeave   = "stage_leave"
	// From a moderator, about identity.
	stageInvite   = "stage_invite"
	stageDismiss  = "stage_dismiss"
	stageWithdraw = "stage_withdraw"
	stageEnd      = "stage_end"
)

// stageFrame is a client's frame on the stage websocket.
type stageFrame struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Identity string `json:"identity,omitempty"`
	// Permissions and Tier are an invitation's choice (stage_invite).
	Permissions access.Permissions `json:"permissions,omitempty"`
	Tier        string             `json:"tier,omitempty"`
}

// decodeStageFrame decodes and checks a frame: a known type, an id of at
// most maxMessageIDBytes, an identity where the type needs one and none
// elsewhere. On error the returned frame carries the id when it was readable.
func decodeStageFrame(data []byte) (stageFrame, error) {
	var f stageFrame
	if !utf8.Valid(data) {
		return f, errorf(http.StatusBadRequest, codeInvalidMessage, "the frame is not valid UTF-8")
	}
	if err := unmarshalStrict(data, &f); err != nil {
		return stageFrame{ID: frameID(data)}, errorf(http.StatusBadRequest, codeInvalidMessage, "%s", err.(*Error).Message)
	}
	if len(f.ID) > maxMessageIDBytes {
		f.ID = ""
		return f, errorf(http.StatusBadRequest, codeInvalidMessage, "id: longer than %d bytes", maxMessageIDBytes)
	}
	switch f.Type {
	case stageRaise, stageLower, stageAccept, stageDecline, stageLeave:
		if f.Identity != "" || f.Permissions != 0 || f.Tier != "" {
			return f, errorf(http.StatusBadRequest, codeInvalidMessage, "%s: takes no identity, permissions or tier", f.Type)
		}
	case stageInvite, stageDismiss, stageWithdraw, stageEnd:
		if !identityPattern.MatchString(f.Identity) {
			return f, errorf(http.StatusBadRequest, codeInvalidMessage, "%s: identity must be 1 to 128 letters, digits or . _ @ -", f.Type)
		}
		if f.Type != stageInvite && (f.Permissions != 0 || f.Tier != "") {
			return f, errorf(http.StatusBadRequest, codeInvalidMessage, "%s: takes no permissions or tier", f.Type)
		}
	default:
		return f, errorf(http.StatusBadRequest, codeInvalidMessage, "type: %q is not a stage message", f.Type)
	}
	return f, nil
}

// Stage error codes.
const (
	codeStageOnStage    = "stage_already_on"
	codeStageNoHand     = "stage_no_hand"
	codeStageNoInvite   = "stage_no_invitation"
	codeStageNotOnStage = "stage_not_on_stage"
	codeStageFull       = "stage_full"
	codeStageRateLimit  = "stage_rate_limited"
	codeStageNoPublish  = "stage_member_cannot_publish"
)

// stageError turns the stage's errors into the API's; others pass through
// (to apiError).
func stageError(err error) error {
	var le *rooms.RaiseLimitError
	switch {
	case errors.As(err, &le):
		e := errorf(http.StatusTooManyRequests, codeStageRateLimit, "hands are raised too often; retry in %s", le.RetryAfter.Round(time.Second))
		e.RetryAfter = max(1, int(le.RetryAfter.Round(time.Second)/time.Second))
		return e
	case errors.Is(err, rooms.ErrOnStage):
		return errorf(http.StatusConflict, codeStageOnStage, "already invited or on stage")
	case errors.Is(err, rooms.ErrNoHand):
		return errorf(http.StatusNotFound, codeStageNoHand, "that hand is not raised")
	case errors.Is(err, rooms.ErrNoInvitation):
		return errorf(http.StatusNotFound, codeStageNoInvite, "no invitation to the stage (or it expired)")
	case errors.Is(err, rooms.ErrNotOnStage):
		return errorf(http.StatusNotFound, codeStageNotOnStage, "not on stage")
	case errors.Is(err, rooms.ErrStageFull):
		return errorf(http.StatusConflict, codeStageFull, "the stage is full: end a guest's turn or withdraw an invitation first")
	case errors.Is(err, rooms.ErrMemberCannotPublish):
		return errorf(http.StatusConflict, codeStageNoPublish, "this identity is a member of the room without the publish permission: give it publish first")
	case errors.Is(err, rooms.ErrNotModerator):
		return errorf(http.StatusForbidden, codePermissionDenied, "only moderators invite to the stage")
	case errors.Is(err, rooms.ErrInvalidTier), errors.Is(err, rooms.ErrTierAboveRoom):
		return errorf(http.StatusBadRequest, codeInvalidMessage, "tier: %v", err)
	}
	return err
}
