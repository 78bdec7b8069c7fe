package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/hls"
	"lectern/storage"
)

// Codes of the broadcast API and HLS.
const (
	codeBroadcastOffline  = "broadcast_offline"
	codeBroadcastStarting = "broadcast_starting"
	codeInvalidOnAir      = "invalid_on_air"
	codeCodecNotBroadcast = "codec_not_broadcast"
	codeHLSSession        = "hls_session_invalid"
	codeHLSRequest        = "invalid_hls_request"
	codeHLSTimeout        = "hls_timeout"
)

// broadcastView is GET/PATCH /rooms/{room}/broadcast.
type broadcastView struct {
	HLS    bool                `json:"hls"`
	Record bool                `json:"record"`
	OnAir  onAirView           `json:"on_air"`
	Status broadcastStatusView `json:"status"`
}

// onAirView is the moderator's choice; null tracks are automatic.
type onAirView struct {
	Video         *string `json:"video"`
	Audio         *string `json:"audio"`
	FollowSpeaker bool    `json:"follow_speaker"`
}

// broadcastStatusView is what is on air and how the HLS output is doing.
type broadcastStatusView struct {
	State      string          `json:"state"`
	Live       bool            `json:"live"`
	Video      *string         `json:"video"`
	Audio      *string         `json:"audio"`
	Speaker    *string         `json:"speaker,omitempty"`
	HLSURL     string          `json:"hls_url,omitempty"`
	Renditions []renditionView `json:"renditions"`
	// Viewers counts the HLS viewers (hls.ViewerWindow).
	Viewers int              `json:"viewers"`
	HLS     *hlsCountersView `json:"hls_counters,omitempty"`
}

type renditionView struct {
	Resolution       string  `json:"resolution,omitempty"`
	Bandwidth        int     `json:"bandwidth"`
	AverageBandwidth int     `json:"average_bandwidth"`
	Codecs           string  `json:"codecs"`
	FrameRate        float64 `json:"frame_rate,omitempty"`
}

// hlsCountersView are the server's HLS figures (all rooms).
type hlsCountersView struct {
	Requests     uint64  `json:"requests"`
	Waiting      int64   `json:"waiting"`
	WaitingPeak  int64   `json:"waiting_peak"`
	PartDelayP50 float64 `json:"part_delay_p50_ms"`
	PartDelayP99 float64 `json:"part_delay_p99_ms"`
}

// broadcastRequest is the body of PATCH /rooms/{room}/broadcast: any field.
type broadcastRequest struct {
	HLS    *bool         `json:"hls"`
	Record *bool         `json:"record"`
	OnAir  *onAirRequest `json:"on_air"`
}

// onAirRequest changes what is on air. An absent track is unchanged; null
// makes it automatic.
type onAirRequest struct {
	Video         trackChoice `json:"video,omitzero"`
	Audio         trackChoice `json:"audio,omitzero"`
	FollowSpeaker *bool       `json:"follow_speaker,omitempty"`
}

// trackChoice is a track ID in JSON that can be absent, null or a string.
type trackChoice struct {
	set bool
	id  string
}

// MarshalJSON writes the ID, or null for automatic (absent fields are omitted
// with omitzero).
func (t trackChoice) MarshalJSON() ([]byte, error) {
	if t.id == "" {
		return []byte("null"), nil
	}
	return json.Marshal(t.id)
}

// UnmarshalJSON records that the field was present; null means automatic.
func (t *trackChoice) UnmarshalJSON(b []byte) error {
	t.set = true
	if string(b) == "null" {
		t.id = ""
		return nil
	}
	if err := json.Unmarshal(b, &t.id); err != nil || t.id == "" || len(t.id) > maxMessageIDBytes {
		return errorf(http.StatusBadRequest, codeInvalidOnAir, "a track must be a track ID or null")
	}
	return nil
}

func (s *broadcastHandlers) getBroadcast(c *gin.Context) {
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, s.broadcastView(r))
}

func (s *broadcastHandlers) patchBroadcast(c *gin.Context) {
	var req broadcastRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	ctx := c.Request.Context()
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	if (req.HLS != nil && *req.HLS != r.BroadcastHLS) || (req.Record != nil && *req.Record != r.BroadcastRecord) {
		if req.HLS != nil {
			r.BroadcastHLS = *req.HLS
		}
		if req.Record != nil {
			r.BroadcastRecord = *req.Record
		}
		var err error
		if r, err = s.rooms.UpdateRoom(ctx, r); err != nil {
			s.abort(c, err)
			return
		}
		s.log.Info("broadcast settings changed", "room", r.ID, "hls", r.BroadcastHLS, "record", r.BroadcastRecord)
	} else {
		s.rooms.ApplyBroadcast(r)
	}
	if req.OnAir != nil {
		if err := applyOnAir(s.hls, s.log, r.ID, *req.OnAir); err != nil {
			s.abort(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, s.broadcastView(r))
}

// applyOnAir merges a change into the room's on-air choice.
func applyOnAir(b *hls.Service, log *slog.Logger, room string, req onAirRequest) error {
	o := b.Status(room).OnAir
	if req.Video.set {
		o.Video = req.Video.id
	}
	if req.Audio.set {
		o.Audio = req.Audio.id
	}
	if req.FollowSpeaker != nil {
		o.FollowSpeaker = *req.FollowSpeaker
	}
	if err := b.SetOnAir(room, o); err != nil {
		return broadcastError(err)
	}
	log.Info("on air changed", "room", room, "video", o.Video, "audio", o.Audio, "follow_speaker", o.FollowSpeaker)
	return nil
}

// setOnAir handles the websocket's on_air message (moderators only).
func (ss *socketSession) setOnAir(m clientMessage) error {
	if !ss.p.Permissions().Has(access.Moderate) {
		return errorf(http.StatusForbidden, codePermissionDenied, "this needs the moderate permission")
	}
	return applyOnAir(ss.s.hls, ss.s.log, ss.p.Room().ID(), onAirRequest{Video: m.Video, Audio: m.Audio, FollowSpeaker: m.FollowSpeaker})
}

func (s *broadcastHandlers) broadcastView(r storage.Room) broadcastView {
	st := s.hls.Status(r.ID)
	v := broadcastView{HLS: r.BroadcastHLS, Record: r.BroadcastRecord,
		OnAir: onAirView{Video: optional(st.OnAir.Video), Audio: optional(st.OnAir.Audio), FollowSpeaker: st.OnAir.FollowSpeaker},
		Status: broadcastStatusView{State: st.State, Live: st.Program.Live, Video: optional(st.Program.Video),
			Audio: optional(st.Program.Audio), Speaker: optional(st.Program.Speaker), Renditions: []renditionView{}, Viewers: st.Viewers}}
	if !r.BroadcastHLS {
		v.Status.State = "offline"
	} else {
		v.Status.HLSURL = s.cfg.serviceURL() + "/hls/" + r.ID + "/index.m3u8"
	}
	for _, x := range st.Renditions {
		rv := renditionView{Bandwidth: x.Bandwidth, AverageBandwidth: x.Average, Codecs: x.Codecs, FrameRate: x.FrameRate}
		if x.Width > 0 {
			rv.Resolution = fmt.Sprintf("%dx%d", x.Width, x.Height)
		}
		v.Status.Renditions = append(v.Status.Renditions, rv)
	}
	v.Status.HLS = &hlsCountersView{Requests: st.Stats.Requests, Waiting: st.Stats.Waiting, WaitingPeak: st.Stats.WaitingPeak,
		PartDelayP50: float64(st.Stats.PartDelayP50.Microseconds()) / 1000, PartDelayP99: float64(st.Stats.PartDelayP99.Microseconds()) / 1000}
	return v
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// broadcastError maps HLS service errors to API errors.
func broadcastError(err error) *Error {
	switch {
	case errors.Is(err, hls.ErrTrackNotFound):
		return errorf(http.StatusNotFound, codeTrackNotFound, "no such track in the room")
	case errors.Is(err, hls.ErrWrongKind):
		return errorf(http.StatusBadRequest, codeInvalidOnAir, "video must name a video track and audio an audio track")
	case errors.Is(err, hls.ErrUnsupportedCodec):
		return errorf(http.StatusConflict, codeCodecNotBroadcast, "the track's codec cannot be broadcast: HLS carries H.264 with Opus or AAC (publish after broadcast is turned on)")
	case errors.Is(err, hls.ErrOffline):
		return errorf(http.StatusNotFound, codeBroadcastOffline, "the room is not broadcasting: nothing is on air, or HLS is off")
	case errors.Is(err, hls.ErrStarting):
		e := errorf(http.StatusServiceUnavailable, codeBroadcastStarting, "the broadcast is starting: its first segment is not complete yet")
		e.RetryAfter = 1
		return e
	case errors.Is(err, hls.ErrSession):
		return errorf(http.StatusForbidden, codeHLSSession, "the HLS session is invalid or expired: load index.m3u8 again with an access token")
	case errors.Is(err, hls.ErrNotFound):
		return errorf(http.StatusNotFound, codeNotFound, "%v", err)
	case errors.Is(err, hls.ErrBadRequest):
		return errorf(http.StatusBadRequest, codeHLSRequest, "%v", err)
	case errors.Is(err, hls.ErrUnavailable):
		e := errorf(http.StatusServiceUnavailable, codeHLSTimeout, "the requested part did not appear in time")
		e.RetryAfter = 1
		return e
	}
	return apiError(err)
}
