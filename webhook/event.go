// Package webhook tells an integrator's backend what happens on the server:
// rooms starting and finishing, participants and tracks coming and going,
// broadcasts going live, recordings, questions to moderate. Events go into a
// bounded outbox in the database (so that a restart loses none) and are
// POSTed, signed, to the configured URL: one room's events in order, each
// retried with capped exponential backoff until it is accepted or too old.
package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Event types.
const (
	RoomStarted       = "room_started"
	RoomFinished      = "room_finished"
	ParticipantJoined = "participant_joined"
	ParticipantLeft   = "participant_left"
	TrackPublished    = "track_published"
	TrackUnpublished  = "track_unpublished"
	BroadcastLive     = "broadcast_live"
	BroadcastOffline  = "broadcast_offline"
	RecordingStarted  = "recording_started"
	RecordingFinished = "recording_finished"
	ChatQuestion      = "chat_question"
	// StageChanged is a change of a webinar's stage: a hand raised or
	// lowered, an invitation, a guest on stage or back in the audience.
	StageChanged = "stage_changed"
)

// Event is one delivery's JSON body. ID is unique per event: a receiver that
// sees an ID twice (after a delivery whose answer was lost) drops the second.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Room      string    `json:"room"`
	// Node is the server that emitted the event (its cluster node ID, or
	// another name for it on a single server).
	Node        string       `json:"node,omitempty"`
	Participant *Participant `json:"participant,omitempty"`
	Track       *Track       `json:"track,omitempty"`
	Recording   *Recording   `json:"recording,omitempty"`
	Question    *Question    `json:"question,omitempty"`
	Stage       *Stage       `json:"stage,omitempty"`
}

// Participant is who joined or left.
type Participant struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Name     string `json:"name,omitempty"`
	Kind     string `json:"kind,omitempty"`
}

// Track is a published or unpublished track.
type Track struct {
	ID          string `json:"id"`
	Participant string `json:"participant"`
	Kind        string `json:"kind"`
	Source      string `json:"source,omitempty"`
	Codec       string `json:"codec,omitempty"`
}

// Recording is a recording that started or finished.
type Recording struct {
	ID        string     `json:"id"`
	Status    string     `json:"status"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// DurationMS and SizeBytes are set when it finished.
	DurationMS int64 `json:"duration_ms,omitempty"`
	SizeBytes  int64 `json:"size_bytes,omitempty"`
	// PlaybackURL plays the finished recording (HLS); it is signed and
	// expires, as the API's playback URLs do.
	PlaybackURL string `json:"playback_url,omitempty"`
}

// Question is a chat question waiting for a moderator.
type Question struct {
	ID       int64  `json:"id"`
	From     string `json:"from"`
	FromName string `json:"from_name,omitempty"`
	Text     string `json:"text"`
}

// Stage is one change of a webinar's stage (docs/protocol.md "The stage").
type Stage struct {
	// Event is hand_raised, hand_lowered, hand_dismissed, invited,
	// invitation_declined, invitation_withdrawn, invitation_expired,
	// guest_joined or guest_left.
	Event    string `json:"event"`
	Identity string `json:"identity"`
	Name     string `json:"name,omitempty"`
	// Permissions and Tier are an invitation's or a guest's grant.
	Permissions string `json:"permissions,omitempty"`
	Tier        string `json:"tier,omitempty"`
	// InvitedBy is the moderator who invited; Reason why a guest left.
	InvitedBy string `json:"invited_by,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// NewID returns a random event ID.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails since Go 1.24
	return "evt_" + hex.EncodeToString(b)
}
