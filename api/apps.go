package api

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"lectern/hls"
	"lectern/rooms"
	"lectern/storage"
)

// scopeRoom turns the path's room, a name within an app, into the key of the
// room the request's credential addresses (docs/security.md "Apps"): an
// access token's app, an API key's, the app of the room holding a stream
// key; without a credential that names an app (PIN joins, preflights), the
// "app" query parameter's, or the default app. Every handler and middleware
// after it (placement, the gate, the room's rules) sees the key, so a
// credential of one app cannot name a room of another: such a name is not
// found. HLS media and recording playback are not scoped: their URLs carry
// the room's key under a session signed for it. Pages are not scoped: they
// ask the API with the credential.
func (g *gate) scopeRoom(c *gin.Context) {
	name := c.Param("room")
	if name == "" || c.Request.Method == http.MethodOptions {
		return
	}
	switch p := c.FullPath(); {
	case strings.HasPrefix(p, "/api/v1/"), p == "/hls/:room/index.m3u8",
		strings.HasPrefix(p, "/whip/"), strings.HasPrefix(p, "/whep/"):
	default:
		return
	}
	cred, ok := bearerToken(c.Request)
	if !ok {
		cred = c.Query("token")
	}
	key, err := g.rooms.RoomKey(c.Request.Context(), name, cred, c.Query("app"))
	if err != nil {
		g.abort(c, err)
		return
	}
	for i := range c.Params {
		if c.Params[i].Key == "room" {
			c.Params[i].Value = key
		}
	}
}

// appHandlers serve the apps: the operator's routes, and an app admin's
// view of its own app.
type appHandlers struct {
	cfg   Config
	db    *storage.DB
	rooms *rooms.Service
	hls   *hls.Service
	caps  *sessionCaps
	gate  *gate
	reporter
}

func (s *appHandlers) routes(r router) {
	r.v1.GET("/app", r.gate.admin, s.getOwnApp)
	r.v1.GET("/apps", r.gate.operator, s.listApps)
	r.v1.POST("/apps", r.gate.operator, s.createApp)
	r.v1.GET("/apps/:app", r.gate.operator, s.getApp)
	r.v1.PATCH("/apps/:app", r.gate.operator, s.updateApp)
	r.v1.DELETE("/apps/:app", r.gate.operator, s.deleteApp)
	r.v1.GET("/apps/:app/keys", r.gate.operator, s.listKeys)
	r.v1.POST("/apps/:app/keys", r.gate.operator, s.createKey)
	r.v1.DELETE("/apps/:app/keys/:key", r.gate.operator, s.deleteKey)
}

// limitsJSON are an app's limits; null is no limit.
type limitsJSON struct {
	MaxRooms          *int64 `json:"max_rooms"`
	MaxParticipants   *int64 `json:"max_participants"`
	MaxHLSViewers     *int64 `json:"max_hls_viewers"`
	MaxRecordingBytes *int64 `json:"max_recording_bytes"`
}

// appUsageJSON is what an app uses now, against its limits. Participants
// and HLS viewers are this node's.
type appUsageJSON struct {
	Rooms          int   `json:"rooms"`
	Participants   int   `json:"participants"`
	HLSViewers     int   `json:"hls_viewers"`
	RecordingBytes int64 `json:"recording_bytes"`
}

type appJSON struct {
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	Limits limitsJSON `json:"limits"`
	// AttendanceRetentionDays: how long attendance reports are kept (null:
	// the server's attendance_retention).
	AttendanceRetentionDays *int64        `json:"attendance_retention_days"`
	Usage                   *appUsageJSON `json:"usage,omitempty"`
	CreatedAt               time.Time     `json:"created_at"`
	UpdatedAt               time.Time     `json:"updated_at"`
}

func appView(a storage.App) appJSON {
	return appJSON{ID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, AttendanceRetentionDays: a.AttendanceRetentionDays,
		Limits: limitsJSON{MaxRooms: a.MaxRooms, MaxParticipants: a.MaxParticipants,
			MaxHLSViewers: a.MaxHLSViewers, MaxRecordingBytes: a.MaxRecordingBytes}}
}

// withUsage adds what the app uses now.
func (s *appHandlers) withUsage(c *gin.Context, a storage.App) (appJSON, error) {
	v := appView(a)
	rs, err := s.db.AppRooms(c.Request.Context(), a.ID)
	if err != nil {
		return appJSON{}, err
	}
	bytes, err := s.db.AppRecordingBytes(c.Request.Context(), a.ID)
	if err != nil {
		return appJSON{}, err
	}
	s.caps.mu.Lock()
	parts := len(s.caps.appMembers[a.ID])
	s.caps.mu.Unlock()
	v.Usage = &appUsageJSON{Rooms: len(rs), Participants: parts, RecordingBytes: bytes,
		HLSViewers: s.hls.ViewersWhere(func(room string) bool { return storage.KeyApp(room) == a.ID })}
	return v, nil
}

// appRequest creates or changes an app. In a PATCH, a limit left out stays
// as it is and a limit sent as null is removed.
type appRequest struct {
	ID     *string                    `json:"id"`
	Name   *string                    `json:"name"`
	Limits map[string]json.RawMessage `json:"limits"`
	// AttendanceRetentionDays: left out, unchanged; null, the server's.
	AttendanceRetentionDays json.RawMessage `json:"attendance_retention_days"`
}

// maxRetentionDays bounds an app's attendance retention (ten years).
const maxRetentionDays = 3650

func (req appRequest) apply(a *storage.App) error {
	if req.Name != nil {
		name, err := displayName("name", *req.Name, 100, codeInvalidApp)
		if err != nil {
			return err
		}
		a.Name = name
	}
	fields := map[string]**int64{
		string(storage.LimitRooms): &a.MaxRooms, string(storage.LimitParticipants): &a.MaxParticipants,
		string(storage.LimitHLSViewers): &a.MaxHLSViewers, string(storage.LimitRecordingBytes): &a.MaxRecordingBytes,
	}
	for k, raw := range req.Limits {
		field, ok := fields[k]
		if !ok {
			return errorf(http.StatusBadRequest, codeInvalidApp,
				"limits: %q is not max_rooms, max_participants, max_hls_viewers or max_recording_bytes", k)
		}
		if string(raw) == "null" {
			*field = nil
			continue
		}
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil || n < 0 {
			return errorf(http.StatusBadRequest, codeInvalidApp, "limits.%s: must be a whole number of at least 0, or null for no limit", k)
		}
		*field = &n
	}
	switch raw := req.AttendanceRetentionDays; {
	case raw == nil:
	case string(raw) == "null":
		a.AttendanceRetentionDays = nil
	default:
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil || n < 1 || n > maxRetentionDays {
			return errorf(http.StatusBadRequest, codeInvalidApp, "attendance_retention_days: must be a whole number of days from 1 to %d, or null for the server's attendance_retention", maxRetentionDays)
		}
		a.AttendanceRetentionDays = &n
	}
	return nil
}

func (s *appHandlers) createApp(c *gin.Context) {
	var req appRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	if req.ID == nil || !roomIDPattern.MatchString(*req.ID) {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidApp, "id: must be 1 to 64 lowercase letters, digits and inner hyphens"))
		return
	}
	if req.Name == nil {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidApp, "name: is required"))
		return
	}
	a := storage.App{ID: *req.ID}
	if err := req.apply(&a); err != nil {
		s.abort(c, err)
		return
	}
	created, err := s.db.CreateApp(c.Request.Context(), a)
	if errors.Is(err, storage.ErrConflict) {
		err = errorf(http.StatusConflict, codeAppExists, "app %q already exists", a.ID)
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("app created", "app", created.ID)
	c.Header("Location", "/api/v1/apps/"+created.ID)
	c.JSON(http.StatusCreated, appView(created))
}

func (s *appHandlers) listApps(c *gin.Context) {
	apps, err := s.db.Apps(c.Request.Context())
	if err != nil {
		s.abort(c, err)
		return
	}
	out := make([]appJSON, len(apps))
	for i, a := range apps {
		if out[i], err = s.withUsage(c, a); err != nil {
			s.abort(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"apps": out})
}

// pathApp loads the path's app or aborts with app_not_found.
func (s *appHandlers) pathApp(c *gin.Context) (storage.App, bool) {
	a, err := s.db.App(c.Request.Context(), c.Param("app"))
	if errors.Is(err, storage.ErrNotFound) {
		err = errorf(http.StatusNotFound, codeAppNotFound, "app %q not found", c.Param("app"))
	}
	if err != nil {
		s.abort(c, err)
		return storage.App{}, false
	}
	return a, true
}

func (s *appHandlers) getApp(c *gin.Context) {
	a, ok := s.pathApp(c)
	if !ok {
		return
	}
	v, err := s.withUsage(c, a)
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// getOwnApp answers GET /app: the app of the calling API key, and whether
// the key is the operator's (the console asks it first).
func (s *appHandlers) getOwnApp(c *gin.Context) {
	p := caller(c)
	a, err := s.db.App(c.Request.Context(), p.app)
	if err != nil {
		s.abort(c, err)
		return
	}
	v, err := s.withUsage(c, a)
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"app": v, "operator": p.operator})
}

func (s *appHandlers) updateApp(c *gin.Context) {
	var req appRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	if req.ID != nil && *req.ID != c.Param("app") {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidApp, "id: cannot be changed"))
		return
	}
	a, ok := s.pathApp(c)
	if !ok {
		return
	}
	if err := req.apply(&a); err != nil {
		s.abort(c, err)
		return
	}
	updated, err := s.db.UpdateApp(c.Request.Context(), a)
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("app changed", "app", updated.ID)
	c.JSON(http.StatusOK, appView(updated))
}

func (s *appHandlers) deleteApp(c *gin.Context) {
	id := c.Param("app")
	if id == storage.DefaultApp {
		s.abort(c, errorf(http.StatusConflict, codeAppNotEmpty, "the default app cannot be deleted"))
		return
	}
	err := s.db.DeleteApp(c.Request.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		err = errorf(http.StatusNotFound, codeAppNotFound, "app %q not found", id)
	case errors.Is(err, storage.ErrAppNotEmpty):
		err = errorf(http.StatusConflict, codeAppNotEmpty, "app %q still has rooms or recordings; delete them first", id)
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("app deleted", "app", id)
	c.Status(http.StatusNoContent)
}

type appKeyJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	App       string    `json:"app"`
	Key       string    `json:"key,omitempty"` // only when created
	CreatedAt time.Time `json:"created_at"`
}

func (s *appHandlers) listKeys(c *gin.Context) {
	a, ok := s.pathApp(c)
	if !ok {
		return
	}
	keys, err := s.db.AppAPIKeys(c.Request.Context(), a.ID)
	if err != nil {
		s.abort(c, err)
		return
	}
	out := make([]appKeyJSON, len(keys))
	for i, k := range keys {
		out[i] = appKeyJSON{ID: k.ID, Name: k.Name, App: k.App, CreatedAt: k.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

// createKey makes an admin API key of the path's app. The key is in the
// answer once; only its SHA-256 is stored.
func (s *appHandlers) createKey(c *gin.Context) {
	var req struct {
		Name *string `json:"name"`
	}
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		s.abort(c, err)
		return
	}
	a, ok := s.pathApp(c)
	if !ok {
		return
	}
	name := "admin"
	if req.Name != nil {
		n, err := displayName("name", *req.Name, 100, codeInvalidApp)
		if err != nil {
			s.abort(c, err)
			return
		}
		name = n
	}
	secret := "lk_" + randomText(32)
	sum := sha256.Sum256([]byte(secret))
	k, err := s.db.CreateAPIKey(c.Request.Context(), storage.APIKey{ID: randomHex(8), Name: name, Hash: sum[:], App: a.ID})
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("app API key created", "app", a.ID, "key", k.ID)
	c.JSON(http.StatusCreated, appKeyJSON{ID: k.ID, Name: k.Name, App: k.App, Key: secret, CreatedAt: k.CreatedAt})
}

func (s *appHandlers) deleteKey(c *gin.Context) {
	err := s.db.DeleteAppAPIKey(c.Request.Context(), c.Param("app"), c.Param("key"))
	if errors.Is(err, storage.ErrNotFound) {
		err = errorf(http.StatusNotFound, codeKeyNotFound, "app %q has no API key %q", c.Param("app"), c.Param("key"))
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	s.log.Info("app API key deleted", "app", c.Param("app"), "key", c.Param("key"))
	c.Status(http.StatusNoContent)
}
