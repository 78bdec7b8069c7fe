package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/chat"
	"lectern/rooms"
	"lectern/storage"
)

// roomHandlers serve rooms, their PINs and their stream keys
// (docs/api.md "Rooms", "Stream keys").
type roomHandlers struct {
	cfg   Config
	db    *storage.DB
	rooms *rooms.Service
	pins  *rooms.PINGuard
	// chat is told of a deleted room, to end its subscriptions.
	chat *chat.Hub
	gate *gate
	reporter
}

func (s *roomHandlers) routes(r router) {
	r.v1.GET("/rooms", r.gate.admin, s.listRooms)
	r.v1.POST("/rooms", r.gate.admin, s.createRoom)
	r.v1.GET("/rooms/:room", r.gate.adminOr(0), s.getRoom)
	r.v1.PATCH("/rooms/:room", r.gate.adminOr(access.Moderate), r.nodes.onRoomNode, s.updateRoom)
	r.v1.DELETE("/rooms/:room", r.gate.admin, r.nodes.onRoomNode, s.deleteRoom)
	r.v1.POST("/rooms/:room/pins", r.gate.adminOr(access.Moderate), s.rotatePINs)

	r.v1.POST("/rooms/:room/stream-key", r.gate.adminOr(access.Moderate), s.rotateStreamKey)
	r.v1.GET("/rooms/:room/stream-key", r.gate.adminOr(access.Moderate), s.getStreamKey)
	r.v1.DELETE("/rooms/:room/stream-key", r.gate.adminOr(access.Moderate), s.deleteStreamKey)
}

// broadcastJSON is a room's broadcast settings.
type broadcastJSON struct {
	HLS    bool `json:"hls"`
	Record bool `json:"record"`
}

// roomJSON is a room as the API shows it. PINs are shown to admins and moderators only.
type roomJSON struct {
	// ID is the room's ID within its app (App).
	ID         string           `json:"id"`
	App        string           `json:"app"`
	Name       string           `json:"name"`
	Mode       string           `json:"mode"`
	Tier       string           `json:"tier"`
	PIN        string           `json:"pin,omitempty"`
	SpeakerPIN string           `json:"speaker_pin,omitempty"`
	Broadcast  broadcastJSON    `json:"broadcast"`
	Chat       chatSettingsJSON `json:"chat"`
	// Locked: new PIN joins are refused (room_locked); tokens still work.
	Locked bool `json:"locked"`
	// Media is the room's media policy: what its publishers may send.
	Media rooms.MediaPolicy `json:"media"`
	// PINAlert is set, for admins and moderators, while the room's PINs are
	// being guessed (rooms.PINGuard).
	PINAlert  *pinAlertJSON `json:"pin_alert,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

func roomView(r storage.Room, withPINs bool) roomJSON {
	v := roomJSON{
		ID: storage.RoomName(r.ID), App: r.App, Name: r.Name, Mode: r.Mode, Tier: r.Tier,
		Broadcast: broadcastJSON{HLS: r.BroadcastHLS, Record: r.BroadcastRecord},
		Chat:      chatSettingsView(r), Locked: r.Locked, Media: rooms.Policy(r),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if withPINs {
		v.PIN, v.SpeakerPIN = r.PIN, r.SpeakerPIN
	}
	return v
}

// roomRequest is the body of POST (all fields) and PATCH (any field) on rooms.
type roomRequest struct {
	ID        *string `json:"id"`
	Name      *string `json:"name"`
	Mode      *string `json:"mode"`
	Tier      *string `json:"tier"`
	Broadcast *struct {
		HLS    *bool `json:"hls"`
		Record *bool `json:"record"`
	} `json:"broadcast"`
	Chat  *chatSettingsRequest `json:"chat"`
	Media *mediaRequest        `json:"media"`
	// Locked is the one field a moderator may change.
	Locked *bool `json:"locked"`
}

// onlyLock says whether req changes nothing but locked.
func (req roomRequest) onlyLock() bool {
	return req.ID == nil && req.Name == nil && req.Mode == nil && req.Tier == nil && req.Broadcast == nil && req.Chat == nil && req.Media == nil
}

// apply validates req and writes its fields into r.
func (req roomRequest) apply(r *storage.Room) error {
	if req.Name != nil {
		name, err := displayName("name", *req.Name, 100, codeInvalidRoom)
		if err != nil {
			return err
		}
		r.Name = name
	}
	if req.Mode != nil {
		if *req.Mode != rooms.ModeConference && *req.Mode != rooms.ModeWebinar {
			return errorf(http.StatusBadRequest, codeInvalidRoom, "mode: %q is not conference or webinar", *req.Mode)
		}
		r.Mode = *req.Mode
	}
	if req.Tier != nil {
		if _, err := access.ParseTier(*req.Tier); err != nil {
			return errorf(http.StatusBadRequest, codeInvalidRoom, "tier: %q is not sd, hd, fhd or 4k", *req.Tier)
		}
		r.Tier = *req.Tier
	}
	if b := req.Broadcast; b != nil {
		if b.HLS != nil {
			r.BroadcastHLS = *b.HLS
		}
		if b.Record != nil {
			r.BroadcastRecord = *b.Record
		}
	}
	if req.Locked != nil {
		r.Locked = *req.Locked
	}
	if req.Media != nil {
		if err := req.Media.apply(r, codeInvalidRoom); err != nil {
			return err
		}
	}
	if req.Chat != nil {
		return req.Chat.apply(r, codeInvalidRoom)
	}
	return nil
}

func (s *roomHandlers) createRoom(c *gin.Context) {
	var req roomRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	r := storage.Room{ID: newRoomID(), Mode: rooms.ModeConference, Tier: string(access.HD),
		PIN: newDigits(pinDigits), SpeakerPIN: newDigits(speakerPINDigits)}
	if req.ID != nil {
		if !roomIDPattern.MatchString(*req.ID) {
			s.abort(c, errorf(http.StatusBadRequest, codeInvalidRoom,
				"id: must be 1 to 64 lowercase letters, digits and inner hyphens"))
			return
		}
		r.ID = *req.ID
	}
	id := r.ID
	r.App = caller(c).app
	r.ID = storage.RoomKey(r.App, id)
	if req.Name == nil {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidRoom, "name: is required"))
		return
	}
	if err := req.apply(&r); err != nil {
		s.abort(c, err)
		return
	}
	created, err := s.rooms.CreateRoom(c.Request.Context(), r)
	if errors.Is(err, storage.ErrConflict) {
		err = errorf(http.StatusConflict, codeRoomExists, "room %q already exists", id)
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("room created", "room", created.ID, "mode", created.Mode, "tier", created.Tier, "media", rooms.Policy(created).Sources.String())
	c.Header("Location", "/api/v1/rooms/"+id)
	c.JSON(http.StatusCreated, roomView(created, true))
}

func (s *roomHandlers) listRooms(c *gin.Context) {
	rooms, err := s.db.AppRooms(c.Request.Context(), caller(c).app)
	if err != nil {
		s.abort(c, err)
		return
	}
	out := make([]roomJSON, len(rooms))
	for i, r := range rooms {
		out[i] = roomView(r, true)
	}
	c.JSON(http.StatusOK, gin.H{"rooms": out})
}

func (s *roomHandlers) getRoom(c *gin.Context) {
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	p := caller(c)
	mod := p.admin || p.grant.Permissions.Has(access.Moderate)
	v := roomView(r, mod)
	if mod {
		v = withPINAlert(s.pins, v)
	}
	c.JSON(http.StatusOK, v)
}

func (s *roomHandlers) updateRoom(c *gin.Context) {
	var req roomRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	if !caller(c).admin && !req.onlyLock() {
		s.abort(c, errorf(http.StatusForbidden, codeAdminRequired, "a moderator may change locked only; the rest needs an API key"))
		return
	}
	if req.ID != nil {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidRoom, "id: cannot be changed"))
		return
	}
	ctx := c.Request.Context()
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	if err := req.apply(&r); err != nil {
		s.abort(c, err)
		return
	}
	updated, err := s.rooms.UpdateRoom(ctx, r)
	if err != nil {
		s.abort(c, err)
		return
	}
	if req.Locked != nil {
		s.log.Info("room lock changed", "room", r.ID, "locked", updated.Locked)
	}
	if req.Media != nil {
		p := rooms.Policy(updated)
		s.log.Info("room media policy changed", "room", r.ID, "sources", p.Sources.String(), "simulcast", p.Simulcast)
	}
	c.JSON(http.StatusOK, withPINAlert(s.pins, roomView(updated, true)))
}

func (s *roomHandlers) deleteRoom(c *gin.Context) {
	if err := s.rooms.DeleteRoom(c.Request.Context(), c.Param("room")); err != nil {
		s.abort(c, err)
		return
	}
	s.chat.CloseRoom(c.Param("room"))
	s.log.Info("room deleted", "room", c.Param("room"))
	c.Status(http.StatusNoContent)
}

// pinsRequest chooses which PINs to rotate; an empty body rotates both.
type pinsRequest struct {
	Which string `json:"which"`
}

func (s *roomHandlers) rotatePINs(c *gin.Context) {
	req := pinsRequest{Which: "both"}
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
			s.abort(c, err)
			return
		}
	}
	ctx := c.Request.Context()
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	switch req.Which {
	case "both", "":
		r.PIN, r.SpeakerPIN = newDigits(pinDigits), newDigits(speakerPINDigits)
	case "pin":
		r.PIN = newDigits(pinDigits)
	case "speaker_pin":
		r.SpeakerPIN = newDigits(speakerPINDigits)
	default:
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidRoom, "which: %q is not pin, speaker_pin or both", req.Which))
		return
	}
	updated, err := s.rooms.UpdateRoom(ctx, r)
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("room PINs rotated", "room", r.ID, "which", req.Which)
	c.JSON(http.StatusOK, withPINAlert(s.pins, roomView(updated, true)))
}
