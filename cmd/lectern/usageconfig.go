package main

import (
	"time"

	"lectern/usage"
)

// usageConfig shapes usage and attendance accounting (usage.Config,
// docs/api.md "Usage" and "Attendance", docs/security.md "Attendance and
// usage data").
type usageConfig struct {
	// Retention: how long attendance reports are kept after their session
	// ends. One setting for the server; apps will make it theirs.
	Retention time.Duration `yaml:"attendance_retention"`
	// SessionGap: how long a room stands empty before its session ends.
	SessionGap time.Duration `yaml:"attendance_session_gap"`
	// ViewerIdle: how long after its last playlist request an HLS viewer
	// counts as gone.
	ViewerIdle time.Duration `yaml:"usage_viewer_idle"`
	// FlushInterval: how often the counts are written to the database.
	FlushInterval time.Duration `yaml:"usage_flush_interval"`
}

func defaultUsageConfig() usageConfig {
	d := usage.DefaultConfig()
	return usageConfig{Retention: d.Retention, SessionGap: d.SessionGap, ViewerIdle: d.ViewerIdle, FlushInterval: d.FlushInterval}
}

// tracker is the usage package's form of c for node.
func (c usageConfig) tracker(node string) usage.Config {
	u := usage.DefaultConfig()
	u.Node, u.Retention, u.SessionGap, u.ViewerIdle, u.FlushInterval = node, c.Retention, c.SessionGap, c.ViewerIdle, c.FlushInterval
	return u
}

func (c usageConfig) validate() error { return c.tracker("x").Validate() }

// usageNode names this node's usage rows: its cluster node ID, or "local"
// on a single server.
func usageNode(cfg config) (string, error) {
	if !cfg.Cluster.Enabled {
		return "local", nil
	}
	return nodeID(cfg.Cluster.NodeID, cfg.DataDir)
}

func init() {
	settings = append(settings,
		setting{"attendance_retention", "LECTERN_ATTENDANCE_RETENTION", "attendance-retention", "how long attendance reports (and the identities behind the monthly active count) are kept after their session ends; at least 24h", duration(func(c *config) *time.Duration { return &c.Usage.Retention })},
		setting{"attendance_session_gap", "LECTERN_ATTENDANCE_SESSION_GAP", "attendance-session-gap", "how long a room must stand empty for its session (attendance report) to end", duration(func(c *config) *time.Duration { return &c.Usage.SessionGap })},
		setting{"usage_viewer_idle", "LECTERN_USAGE_VIEWER_IDLE", "usage-viewer-idle", "how long after its last playlist request an HLS viewer counts as gone", duration(func(c *config) *time.Duration { return &c.Usage.ViewerIdle })},
		setting{"usage_flush_interval", "LECTERN_USAGE_FLUSH_INTERVAL", "usage-flush-interval", "how often usage and attendance counts are written to the database", duration(func(c *config) *time.Duration { return &c.Usage.FlushInterval })},
	)
}
