package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/chat"
	"lectern/rooms"
	"lectern/sfu"
)

// maxSocketMessage bounds one websocket frame from a client; an SDP offer with
// many tracks stays far below it.
const maxSocketMessage = 64 << 10

// clientMessage is any message a client sends on the room websocket. Which
// fields matter depends on Type (docs/protocol.md).
type clientMessage struct {
	ID        string                   `json:"id,omitempty"`
	Type      string                   `json:"type"`
	SDP       string                   `json:"sdp,omitempty"`
	Sources   map[string]string        `json:"sources,omitempty"`
	Target    string                   `json:"target,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Tracks    []string                 `json:"tracks,omitempty"`
	Track     string                   `json:"track,omitempty"`
	Layer     string                   `json:"layer,omitempty"`
	Muted     *bool                    `json:"muted,omitempty"`
	Paused    *bool                    `json:"paused,omitempty"`
	// view: the size a received video is rendered at, in device pixels.
	Width       *int     `json:"width,omitempty"`
	Height      *int     `json:"height,omitempty"`
	Participant string   `json:"participant,omitempty"`
	Rooms       []string `json:"rooms,omitzero"` // [] (no other rooms) differs from absent
	// on_air (api/broadcast.go): absent tracks are unchanged, null is automatic.
	Video         trackChoice `json:"video,omitzero"`
	Audio         trackChoice `json:"audio,omitzero"`
	FollowSpeaker *bool       `json:"follow_speaker,omitempty"`
	// chat_subscribe: resume after this seq; absent, the latest messages.
	After *int64 `json:"after,omitempty"`
}

// Limits on list fields, so one frame cannot ask for unbounded work.
const (
	maxMessageTracks  = 100
	maxMessageRooms   = 10
	maxMessageIDBytes = 64
	// maxViewSize bounds a view message's width and height.
	maxViewSize = 16384
)

// decodeClientMessage parses and checks one frame. Errors are *Error with code
// invalid_message and say what is wrong.
func decodeClientMessage(data []byte) (clientMessage, error) {
	var m clientMessage
	if err := unmarshalStrict(data, &m); err != nil {
		// The decoder stops at the first bad field: the reply still names
		// the request it answers.
		return clientMessage{ID: frameID(data)}, errorf(http.StatusBadRequest, codeInvalidMessage, "%s", err.(*Error).Message)
	}
	bad := func(format string, args ...any) (clientMessage, error) {
		return m, errorf(http.StatusBadRequest, codeInvalidMessage, "%s: %s", m.Type, fmt.Sprintf(format, args...))
	}
	if len(m.ID) > maxMessageIDBytes {
		m.ID = ""
		return bad("id: longer than %d bytes", maxMessageIDBytes)
	}
	if len(m.Tracks) > maxMessageTracks || len(m.Rooms) > maxMessageRooms {
		return bad("too many tracks or rooms")
	}
	switch m.Type {
	case "publish", "answer":
		if m.SDP == "" {
			return bad("sdp: is required")
		}
		for id, src := range m.Sources {
			if !sfu.ValidSource(src) {
				return bad("sources: %q for track %q is not camera, microphone, screen or screen_audio", src, id)
			}
		}
	case "candidate":
		if m.Candidate == nil || (m.Target != "publisher" && m.Target != "subscriber") {
			return bad("candidate and target (publisher or subscriber) are required")
		}
	case "subscribe", "unsubscribe":
		if len(m.Tracks) == 0 {
			return bad("tracks: name at least one track")
		}
	case "layer":
		if m.Track == "" || m.Layer == "" {
			return bad("track and layer are required")
		}
	case "view":
		if m.Track == "" || m.Width == nil || m.Height == nil {
			return bad("track, width and height are required")
		}
		if *m.Width < 0 || *m.Height < 0 || *m.Width > maxViewSize || *m.Height > maxViewSize {
			return bad("width and height: 0 to %d device pixels", maxViewSize)
		}
	case "mute":
		if m.Track == "" || m.Muted == nil {
			return bad("track and muted are required")
		}
	case "pause":
		if m.Track == "" || m.Paused == nil {
			return bad("track and paused are required")
		}
	case "remove":
		if m.Participant == "" {
			return bad("participant is required")
		}
	case "targets":
		if m.Rooms == nil {
			return bad("rooms is required")
		}
	case "on_air":
		if !m.Video.set && !m.Audio.set && m.FollowSpeaker == nil {
			return bad("name video, audio or follow_speaker")
		}
	case "chat_subscribe":
		if m.After == nil {
			m.After = ptrTo[int64](chat.Latest)
		} else if *m.After < 0 {
			return bad("after: must be a message seq (0 or more)")
		}
	case "leave", "ping":
	case "":
		return m, errorf(http.StatusBadRequest, codeInvalidMessage, "type: is required")
	default:
		return m, errorf(http.StatusBadRequest, codeInvalidMessage, "type: %q is not a message this server knows", m.Type)
	}
	return m, nil
}

// frameID returns the "id" of a frame that did not decode, when the frame is
// a JSON object whose id is a string of at most maxMessageIDBytes; else "".
// Other fields, whatever their types, are skipped.
func frameID(data []byte) string {
	var probe struct {
		ID json.RawMessage `json:"id"`
	}
	var id string
	if json.Unmarshal(data, &probe) != nil || json.Unmarshal(probe.ID, &id) != nil || len(id) > maxMessageIDBytes {
		return ""
	}
	return id
}

// serverMessage is a reply on the room websocket: a welcome, an answer, an
// acknowledgement or an error. Events from the SFU are sent as sfu.Event.
type serverMessage struct {
	Type         string                `json:"type"`
	ID           string                `json:"id,omitempty"`
	SDP          string                `json:"sdp,omitempty"`
	Code         string                `json:"code,omitempty"`
	Message      string                `json:"message,omitempty"`
	Participant  *sfu.ParticipantInfo  `json:"participant,omitempty"`
	Permissions  *access.Permissions   `json:"permissions,omitempty"`
	Room         *roomJSON             `json:"room,omitempty"`
	Participants []sfu.ParticipantInfo `json:"participants,omitempty"`
	Tracks       []sfu.TrackInfo       `json:"tracks,omitempty"`
	// Media is in the welcome only: what this participant may send, the
	// room's media policy with its own extra sources.
	Media *rooms.MediaPolicy `json:"media,omitempty"`
	// ICEServers is in the welcome only, [] when the server has none.
	ICEServers *[]ICEServer `json:"ice_servers,omitempty"`
}
