package api

import (
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/hls"
	"lectern/sfu"
	"lectern/storage"
)

// Live rooms over REST, for integrators' backends: who is in a room and what
// they publish, removing someone, muting a track, and the live rooms with
// their counts. The routes on one room run on the room's node (onRoomNode),
// so they see and change its live state from any node.

// liveHandlers serve the live rooms: their participants and tracks, and the
// live rooms of every node.
type liveHandlers struct {
	cfg   Config
	media *sfu.SFU
	// hls answers each live room's broadcast state.
	hls   *hls.Service
	nodes *roomNodes
	gate  *gate
	reporter
}

func (s *liveHandlers) routes(r router) {
	r.v1.GET("/rooms/:room/participants", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.listParticipants)
	r.v1.GET("/rooms/:room/participants/:identity", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.getParticipant)
	r.v1.DELETE("/rooms/:room/participants/:identity", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.removeParticipant)
	r.v1.PATCH("/rooms/:room/participants/:identity/tracks/:track", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.updateParticipantTrack)
	r.v1.GET("/live", r.gate.admin, s.listLive)
}

// participantJSON is a live participant as the REST API shows it.
type participantJSON struct {
	sfu.ParticipantInfo
	// Node is the base URL of the node that holds the participant's media.
	Node string `json:"node"`
	// Downlink is how its subscriber connection fares (absent without one).
	Downlink *sfu.Downlink `json:"downlink,omitempty"`
}

// codeInvalidReason refuses a removal reason that is too long or not text.
const codeInvalidReason = "invalid_reason"

// maxReasonLen bounds a removal reason, in bytes.
const maxReasonLen = 200

// liveRoom returns the room's live media room, or nil when no one is in it
// here; it writes a 404 and reports false when the room does not exist.
func (s *liveHandlers) liveRoom(c *gin.Context) (*sfu.Room, bool) {
	r, ok := s.gate.room(c)
	if !ok {
		return nil, false
	}
	live, _ := s.media.LiveRoom(r.ID)
	return live, true
}

func (s *liveHandlers) participantView(info sfu.ParticipantInfo, downlinks map[string]sfu.Downlink) participantJSON {
	v := participantJSON{ParticipantInfo: info, Node: s.cfg.PublicURL}
	if d, ok := downlinks[info.ID]; ok {
		v.Downlink = &d
	}
	return v
}

// listParticipants: GET /api/v1/rooms/{room}/participants.
func (s *liveHandlers) listParticipants(c *gin.Context) {
	live, ok := s.liveRoom(c)
	if !ok {
		return
	}
	out := []participantJSON{}
	if live != nil {
		downlinks := live.Downlinks()
		for _, info := range live.Roster() {
			out = append(out, s.participantView(info, downlinks))
		}
	}
	c.JSON(http.StatusOK, gin.H{"participants": out})
}

// identitySessions returns the live sessions of the path's identity, the
// latest first, or writes a 404.
func (s *liveHandlers) identitySessions(c *gin.Context) ([]*sfu.Participant, *sfu.Room, bool) {
	live, ok := s.liveRoom(c)
	if !ok {
		return nil, nil, false
	}
	var ps []*sfu.Participant
	if live != nil {
		ps = live.ByIdentity(c.Param("identity"))
	}
	if len(ps) == 0 {
		s.abort(c, errorf(http.StatusNotFound, codeParticipantNotFound, "no participant %q is in the room", c.Param("identity")))
		return nil, nil, false
	}
	return ps, live, true
}

// getParticipant: GET /api/v1/rooms/{room}/participants/{identity}, the
// identity's latest session.
func (s *liveHandlers) getParticipant(c *gin.Context) {
	ps, live, ok := s.identitySessions(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, s.participantView(ps[0].Info(), live.Downlinks()))
}

// removeRequest is the optional body of DELETE .../participants/{identity}.
type removeRequest struct {
	Reason *string `json:"reason"`
}

// removeParticipant: DELETE /api/v1/rooms/{room}/participants/{identity}
// ends every session of the identity; each client is shown the reason.
func (s *liveHandlers) removeParticipant(c *gin.Context) {
	var req removeRequest
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
			s.abort(c, err)
			return
		}
	}
	reason := "removed by the host"
	if req.Reason != nil {
		if err := checkReason(*req.Reason); err != nil {
			s.abort(c, err)
			return
		}
		reason = *req.Reason
	}
	_, live, ok := s.identitySessions(c)
	if !ok {
		return
	}
	n := live.RemoveIdentity(c.Param("identity"), reason)
	s.log.Info("participant removed over REST", "room", live.ID(), "identity", c.Param("identity"), "sessions", n)
	c.Status(http.StatusNoContent)
}

// checkReason accepts a removal reason of printable text within maxReasonLen.
func checkReason(r string) error {
	if r == "" || len(r) > maxReasonLen || !utf8.ValidString(r) {
		return errorf(http.StatusBadRequest, codeInvalidReason, "reason: 1 to %d bytes of UTF-8 text", maxReasonLen)
	}
	for _, ch := range r {
		if unicode.IsControl(ch) || unicode.Is(unicode.Cf, ch) {
			return errorf(http.StatusBadRequest, codeInvalidReason, "reason: control and format characters are not allowed")
		}
	}
	return nil
}

// trackRequest is the body of PATCH .../participants/{identity}/tracks/{track}.
type trackRequest struct {
	Muted *bool `json:"muted"`
}

// updateParticipantTrack: PATCH
// /api/v1/rooms/{room}/participants/{identity}/tracks/{track} mutes or
// unmutes one of the identity's tracks for everyone.
func (s *liveHandlers) updateParticipantTrack(c *gin.Context) {
	var req trackRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	if req.Muted == nil {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidJSON, "muted: required"))
		return
	}
	ps, live, ok := s.identitySessions(c)
	if !ok {
		return
	}
	id := c.Param("track")
	for _, p := range ps {
		for _, t := range p.Info().Tracks {
			if t.ID != id {
				continue
			}
			if err := live.SetTrackMuted(id, *req.Muted); err != nil {
				s.abort(c, mediaError(err))
				return
			}
			t.Muted = *req.Muted
			c.JSON(http.StatusOK, t)
			return
		}
	}
	s.abort(c, errorf(http.StatusNotFound, codeTrackNotFound, "%s publishes no track %s here", c.Param("identity"), id))
}

// liveRoomJSON is one live room in GET /api/v1/live.
type liveRoomJSON struct {
	ID           string `json:"id"`
	Participants int    `json:"participants"`
	HLSViewers   int    `json:"hls_viewers"`
	Broadcast    string `json:"broadcast"`
	Node         string `json:"node"`
}

// listLive: GET /api/v1/live, the rooms with media on every live node and
// their counts (livenodes.go asks the others).
func (s *liveHandlers) listLive(c *gin.Context) {
	rooms := s.localLive()
	var unreachable []string
	if c.GetHeader(forwardedHeader) == "" {
		more, failed := s.nodes.peersLive(c)
		rooms, unreachable = append(rooms, more...), failed
	}
	// An API key sees its app's rooms (an operator key: the default app's).
	// Between nodes the rooms go by their keys; the caller gets IDs.
	app, forwarded := caller(c).app, c.GetHeader(forwardedHeader) != ""
	mine := []liveRoomJSON{}
	for _, lr := range rooms {
		if storage.KeyApp(lr.ID) == app {
			if !forwarded {
				lr.ID = storage.RoomName(lr.ID)
			}
			mine = append(mine, lr)
		}
	}
	out := gin.H{"rooms": mine}
	if len(unreachable) > 0 {
		out["unreachable"] = unreachable
	}
	c.JSON(http.StatusOK, out)
}

// localLive lists the rooms with media on this node.
func (s *liveHandlers) localLive() []liveRoomJSON {
	out := []liveRoomJSON{}
	for _, id := range s.media.MediaRooms() {
		live, ok := s.media.LiveRoom(id)
		if !ok {
			continue
		}
		lr := liveRoomJSON{ID: id, Participants: len(live.Participants()), Broadcast: "offline", Node: s.cfg.PublicURL}
		if s.hls != nil {
			st := s.hls.Status(id)
			lr.HLSViewers, lr.Broadcast = st.Viewers, st.State
		}
		out = append(out, lr)
	}
	return out
}
