package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// healthz answers as long as the process serves HTTP.
func (s *siteHandlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 only while the database is reachable.
func (s *siteHandlers) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.Warn("readiness: database unreachable", "err", err)
		s.abort(c, errorf(http.StatusServiceUnavailable, codeDatabaseUnhealthy, "the database is not reachable"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "database": s.db.Backend()})
}
