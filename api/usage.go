package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"lectern/access"
	"lectern/sfu"
	"lectern/storage"
	"lectern/usage"
)

// Codes of the usage and attendance routes.
const (
	codeInvalidMonth       = "invalid_month"
	codeInvalidFormat      = "invalid_format"
	codeAttendanceNotFound = "attendance_session_not_found"
)

// usageHandlers serve the monthly usage of the caller's app and the
// attendance reports of a room's sessions. Every node reads them from the
// database, so they are not forwarded to the room's node.
type usageHandlers struct {
	cfg   Config
	db    *storage.DB
	usage *usage.Tracker
	gate  *gate
	reporter
}

func (s *usageHandlers) routes(r router) {
	r.v1.GET("/usage", r.gate.admin, s.getUsage)
	r.v1.GET("/rooms/:room/sessions", r.gate.adminOr(access.Moderate), s.listSessions)
	r.v1.GET("/rooms/:room/sessions/:session/attendance", r.gate.adminOr(access.Moderate), s.getAttendance)
}

// usageApp is the app whose usage the caller asks for: its API key's app;
// the operator may name any app with ?app= (its key's own is the default app).
func (s *usageHandlers) usageApp(c *gin.Context) (string, error) {
	p := caller(c)
	app := c.Query("app")
	if app == "" || app == p.app {
		return p.app, nil
	}
	if !p.operator {
		return "", errorf(http.StatusNotFound, codeAppNotFound, "app %q not found", app)
	}
	if _, err := s.db.App(c.Request.Context(), app); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return "", errorf(http.StatusNotFound, codeAppNotFound, "app %q not found", app)
		}
		return "", err
	}
	return app, nil
}

// getUsage answers GET /api/v1/usage?month=YYYY-MM (default: this month).
func (s *usageHandlers) getUsage(c *gin.Context) {
	month, err := usage.ParseMonth(c.Query("month"), s.usage.Now())
	if err != nil {
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidMonth, "%v", err))
		return
	}
	// This node's latest counts first; other nodes' are as of their last flush.
	if err := s.usage.Flush(c.Request.Context()); err != nil {
		s.log.Warn("usage: flush before a report", "err", err)
	}
	app, err := s.usageApp(c)
	if err != nil {
		s.abort(c, err)
		return
	}
	rep, err := s.usage.Usage(c.Request.Context(), app, month)
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

// listSessions answers GET /api/v1/rooms/{room}/sessions.
func (s *usageHandlers) listSessions(c *gin.Context) {
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	if err := s.usage.Flush(c.Request.Context()); err != nil {
		s.log.Warn("usage: flush before a report", "err", err)
	}
	list, err := s.usage.Sessions(c.Request.Context(), r.ID)
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"sessions": list})
}

// getAttendance answers GET /api/v1/rooms/{room}/sessions/{id}/attendance
// as JSON, or as CSV with ?format=csv or Accept: text/csv.
func (s *usageHandlers) getAttendance(c *gin.Context) {
	csv := false
	switch f := c.Query("format"); f {
	case "csv":
		csv = true
	case "json":
	case "":
		csv = strings.Contains(c.GetHeader("Accept"), "text/csv")
	default:
		s.abort(c, errorf(http.StatusBadRequest, codeInvalidFormat, "format must be json or csv, got %q", f))
		return
	}
	r, ok := s.gate.room(c)
	if !ok {
		return
	}
	if err := s.usage.Flush(c.Request.Context()); err != nil {
		s.log.Warn("usage: flush before a report", "err", err)
	}
	a, err := s.usage.Attendance(c.Request.Context(), r.ID, c.Param("session"))
	if errors.Is(err, storage.ErrNotFound) {
		err = errorf(http.StatusNotFound, codeAttendanceNotFound, "room %s has no session %q (sessions past attendance_retention are deleted)", r.ID, c.Param("session"))
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	if !csv {
		c.JSON(http.StatusOK, a)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="attendance-`+r.ID+`-`+a.ID+`.csv"`)
	c.Status(http.StatusOK)
	if err := usage.WriteCSV(c.Writer, a); err != nil {
		s.log.Warn("usage: writing attendance CSV", "err", err)
	}
}

// watchUsage hands the SFU's participants joining and leaving to the
// tracker; the returned func stops it.
func watchUsage(media *sfu.SFU, t *usage.Tracker) func() {
	return media.Watch(func(ev sfu.Event) {
		p := ev.Participant
		if p == nil {
			return
		}
		switch ev.Type {
		case sfu.EventParticipantJoined:
			t.Joined(ev.Room, p.ID, p.Identity, p.Name, p.Kind)
		case sfu.EventParticipantLeft:
			t.Left(ev.Room, p.ID)
		}
	})
}
