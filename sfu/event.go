package sfu

import (
	"time"

	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// Event types sent to participants. The API writes them to the websocket as
// they are; docs/protocol.md describes each.
const (
	EventParticipantJoined  = "participant_joined"
	EventParticipantLeft    = "participant_left"
	EventParticipantUpdated = "participant_updated"
	EventTrackPublished     = "track_published"
	EventTrackUnpublished   = "track_unpublished"
	EventTrackUpdated       = "track_updated"
	EventOffer              = "offer"
	EventPermissions        = "permissions_changed"
	EventLayer              = "layer_changed"
	EventRemoved            = "removed"
	// EventReplaced ends a session whose identity joined the room again
	// (another tab or device): one identity is one participant of a kind.
	EventReplaced = "replaced"
	// EventVideoPaused and EventVideoResumed: the subscriber's allocator
	// stopped sending a video for lack of bandwidth, and started again.
	EventVideoPaused  = "video_paused"
	EventVideoResumed = "video_resumed"
	// EventPublishLayers asks a publisher to send only the simulcast
	// encodings named in Active (dynacast.go).
	EventPublishLayers = "publish_layers"
)

// Event is one message from the SFU to a participant.
type Event struct {
	Type        string                   `json:"type"`
	Room        string                   `json:"room,omitempty"`
	Participant *ParticipantInfo         `json:"participant,omitempty"`
	Track       *TrackInfo               `json:"track,omitempty"`
	SDP         string                   `json:"sdp,omitempty"`
	Target      string                   `json:"target,omitempty"`
	Candidate   *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Permissions *access.Permissions      `json:"permissions,omitempty"`
	// Tracks maps the track IDs of an offer to what they are, so that a
	// subscriber without the list permission still knows camera from screen.
	Tracks map[string]TrackInfo `json:"tracks,omitempty"`
	Layer  string               `json:"layer,omitempty"`
	Reason string               `json:"reason,omitempty"`
	// LocalTrack is the publisher's own ID of the track in a publish_layers
	// event (the msid track ID of its offer); Active the RIDs to send.
	LocalTrack string   `json:"local_track,omitempty"`
	Active     []string `json:"active,omitempty"`
	// Edge marks, for watchers, a viewer of a cascade edge's room joining or
	// leaving: the room itself lives on another node (edge.go).
	Edge bool `json:"-"`
}

// ParticipantInfo describes a participant in roster events.
type ParticipantInfo struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	// JoinedAt is when the participant joined, in UTC.
	JoinedAt time.Time   `json:"joined_at"`
	Tracks   []TrackInfo `json:"tracks"`
}

// TrackInfo describes a published track.
type TrackInfo struct {
	ID          string   `json:"id"`
	Participant string   `json:"participant"`
	Kind        string   `json:"kind"`
	Source      string   `json:"source"`
	Codec       string   `json:"codec"`
	Muted       bool     `json:"muted"`
	Layers      []string `json:"layers,omitempty"`
	// WebRTC is false for tracks that WebRTC subscribers cannot receive (AAC
	// from an RTSP encoder); Note says why.
	WebRTC bool   `json:"webrtc"`
	Note   string `json:"note,omitempty"`
}

// Track sources.
const (
	SourceCamera      = "camera"
	SourceMicrophone  = "microphone"
	SourceScreen      = "screen"
	SourceScreenAudio = "screen_audio"
)

// ValidSource reports whether s is a track source name.
func ValidSource(s string) bool {
	switch s {
	case SourceCamera, SourceMicrophone, SourceScreen, SourceScreenAudio:
		return true
	}
	return false
}
