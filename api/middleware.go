package api

import (
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

const requestIDKey = "lectern.request_id"

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID takes the caller's X-Request-ID when it is sane, or makes one, and
// echoes it in the response so a user's report can be found in the logs.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !requestIDPattern.MatchString(id) {
		id = randomHex(8)
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

// observe counts and times every request and writes the access log. The query
// string is never logged: it may carry a token.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
	s.metrics.latency.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
	level := slog.LevelInfo
	switch {
	case route == "/healthz" || route == "/readyz" || route == "/metrics":
		level = slog.LevelDebug
	case strings.HasPrefix(route, "/hls/") && status < 500:
		level = slog.LevelDebug // thousands a second per audience
	case status >= 500:
		level = slog.LevelWarn
	}
	s.log.Log(c.Request.Context(), level, "http",
		"method", c.Request.Method, "path", c.Request.URL.Path, "status", status,
		"duration_ms", float64(elapsed.Microseconds())/1000, "client", c.ClientIP(),
		"request_id", c.GetString(requestIDKey))
}

// recover turns a panic in a handler into a logged 500 with a JSON body.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", "request_id", c.GetString(requestIDKey), "route", c.FullPath(), "panic", v)
			s.abort(c, errorf(http.StatusInternalServerError, codeInternal, "internal error"))
		}
	}()
	c.Next()
}
