package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"lectern/api"
	"lectern/cascade"
	"lectern/cluster"
	"lectern/ingest"
	"lectern/sfu"
	"lectern/storage"
)

// clusterConfig turns several nodes on one PostgreSQL database into one
// service (README, "Several nodes"; docs/deploy.md).
type clusterConfig struct {
	Enabled bool `yaml:"cluster"`
	// NodeID names this node; empty: generated once and kept in the data dir.
	NodeID string `yaml:"node_id"`
	// Heartbeat is the interval of the node's heartbeats; a node is dead
	// after three missed ones.
	Heartbeat time.Duration `yaml:"cluster_heartbeat"`
	// DrainTimeout is how long a node told to stop keeps its live rooms
	// running (while new rooms go to other nodes) before it shuts down.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// Cascade serves here the WHEP viewers of rooms that live on another
	// node, from an edge that pulls each watched layer once from the room's
	// node (package cascade); false redirects them there (307).
	Cascade bool `yaml:"cluster_cascade"`
	// ServiceURL is the base URL of the whole service (a load balancer or
	// DNS name over every node), named in the WHIP and HLS URLs the API
	// hands out; empty: this node's public_url.
	ServiceURL string `yaml:"service_url"`
	// IngestURL is the RTSP base URL of the whole service (a TCP load
	// balancer or DNS name over every node's RTSP port), named in stream
	// keys' rtsp_url; empty: this node's.
	IngestURL string `yaml:"ingest_url"`
	// RecordingResumeWindow is how long after a node's death a recording
	// it was writing waits for its broadcast to resume on another node,
	// which continues it; after that, a surviving node finishes it from
	// what reached the object store (docs/hls.md).
	RecordingResumeWindow time.Duration `yaml:"recording_resume_window"`
}

func defaultClusterConfig() clusterConfig {
	return clusterConfig{Heartbeat: cluster.DefaultInterval, DrainTimeout: 30 * time.Second, Cascade: true,
		RecordingResumeWindow: time.Minute}
}

func init() {
	settings = append(settings,
		setting{"cluster", "LECTERN_CLUSTER", "cluster", "run as one of several nodes on the PostgreSQL database (true or false)", func(c *config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			c.Cluster.Enabled = b
			return nil
		}},
		setting{"node_id", "LECTERN_NODE_ID", "node-id", "this node's name in the cluster (empty: generated, kept in data_dir/node_id)", str(func(c *config) *string { return &c.Cluster.NodeID })},
		setting{"cluster_heartbeat", "LECTERN_CLUSTER_HEARTBEAT", "cluster-heartbeat", "interval of cluster heartbeats; a node is dead after 3 missed", duration(func(c *config) *time.Duration { return &c.Cluster.Heartbeat })},
		setting{"cluster_cascade", "LECTERN_CLUSTER_CASCADE", "cluster-cascade", "in a cluster, serve WebRTC viewers of other nodes' rooms here from an edge that pulls the room once (true or false; default true)", func(c *config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			c.Cluster.Cascade = b
			return nil
		}},
		setting{"service_url", "LECTERN_SERVICE_URL", "service-url", "in a cluster, the base URL over every node (load balancer) that WHIP and HLS URLs name (empty: public_url)", str(func(c *config) *string { return &c.Cluster.ServiceURL })},
		setting{"ingest_url", "LECTERN_INGEST_URL", "ingest-url", "in a cluster, the RTSP base URL over every node that stream keys name, such as rtsp://live.example.com:8554 (empty: this node's)", str(func(c *config) *string { return &c.Cluster.IngestURL })},
		setting{"recording_resume_window", "LECTERN_RECORDING_RESUME_WINDOW", "recording-resume-window", "in a cluster, how long a recording cut by its node's death waits for its broadcast to resume elsewhere before a surviving node finishes it", duration(func(c *config) *time.Duration { return &c.Cluster.RecordingResumeWindow })},
		setting{"drain_timeout", "LECTERN_DRAIN_TIMEOUT", "drain-timeout", "on SIGTERM in a cluster, how long live rooms may go on while new ones go elsewhere", duration(func(c *config) *time.Duration { return &c.Cluster.DrainTimeout })},
	)
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// validate reports the first invalid cluster value, naming its key.
func (c clusterConfig) validate(databaseURL string) error {
	switch {
	case !c.Enabled:
		return nil
	case databaseURL == "":
		return errors.New("cluster: needs database_url (PostgreSQL); with SQLite Lectern runs as one node")
	case c.NodeID != "" && !nodeIDPattern.MatchString(c.NodeID):
		return fmt.Errorf("node_id: %q must be 1 to 64 letters, digits, dots, dashes or underscores", c.NodeID)
	case c.Heartbeat < 100*time.Millisecond:
		return errors.New("cluster_heartbeat: must be at least 100ms")
	case c.DrainTimeout < 0:
		return errors.New("drain_timeout: must not be negative")
	case c.RecordingResumeWindow <= 0:
		return errors.New("recording_resume_window: must be positive")
	case c.ServiceURL != "" && !validPublicURL(c.ServiceURL):
		return fmt.Errorf("service_url: %q must be http(s)://host[:port]", c.ServiceURL)
	case c.IngestURL != "" && !validRTSPBase(c.IngestURL):
		return fmt.Errorf("ingest_url: %q must be rtsp://host[:port]", c.IngestURL)
	}
	return nil
}

// nodeID returns the configured node ID, or the one kept in dataDir/node_id,
// creating it on first use.
func nodeID(configured, dataDir string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := filepath.Join(dataDir, "node_id")
	if data, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(data)); nodeIDPattern.MatchString(id) {
			return id, nil
		}
		return "", fmt.Errorf("node_id: %s does not hold a node ID", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("node_id: %w", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	id := "node-" + hex.EncodeToString(b)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("node_id: %w", err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("node_id: %w", err)
	}
	return id, nil
}

// member is this process's place in the cluster; nil when clustering is off,
// and every method works on nil.
type member struct {
	node  *cluster.Node
	media *sfu.SFU
	log   *slog.Logger
	drain time.Duration
	stop  context.CancelFunc
	done  chan error
	// edges are the cascade's edges, set once the API is built.
	edges atomic.Pointer[cascade.Edges]
}

// joinCluster registers the node and starts its heartbeats when clustering
// is on.
func joinCluster(ctx context.Context, cfg config, db *storage.DB, media *sfu.SFU, rtsp *ingest.Server, publicURL, rtspURL string, log *slog.Logger) (*member, error) {
	if !cfg.Cluster.Enabled {
		return nil, nil
	}
	id, err := nodeID(cfg.Cluster.NodeID, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.PublicURL == "" {
		log.Warn("public_url is not set: other nodes send clients to the derived URL", "url", publicURL)
	}
	node, err := cluster.New(cluster.Config{NodeID: id, URL: publicURL, RTSPURL: rtspURL, Interval: cfg.Cluster.Heartbeat}, db,
		func() cluster.Load {
			return cluster.Load{Rooms: len(media.MediaRooms()), Participants: media.Stats().Participants}
		},
		// A broadcast room's idle program keeps its SFU room open on every
		// node: only participants and tracks say where its media is.
		media.HasMedia, log)
	if err != nil {
		return nil, err
	}
	node.Fence(media.MediaRooms, func(room string) { media.EndRoom(room, api.RoomMovedReason) })
	// The room follows its publisher: viewers alone (WHEP) never place it.
	node.ClaimWhen(func(room string) bool {
		r, ok := media.LiveRoom(room)
		return ok && len(r.Tracks()) > 0
	})
	// A fenced node (it may have been judged dead) ends everything it holds:
	// Fence's evict ends its rooms' participants (WebRTC, WHIP, WHEP), and
	// the RTSP connections close, so encoders reconnect to the room's node.
	// The cascade's edges here (WHEP viewers of other nodes' rooms) end too.
	m := &member{node: node, media: media, log: log, drain: cfg.Cluster.DrainTimeout, done: make(chan error, 1)}
	node.OnFenced(func() {
		rtsp.CloseAll()
		if e := m.edges.Load(); e != nil {
			e.End(api.RoomMovedReason)
		}
	})
	rtsp.Fenced = node.Fenced
	if err := node.Register(ctx); err != nil {
		return nil, fmt.Errorf("cluster: register node %s: %w", id, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	m.stop = stop
	go func() { m.done <- node.Run(runCtx) }()
	return m, nil
}

// endOnFence makes a fence end e's edges as well; nothing without a cluster.
func (m *member) endOnFence(e *cascade.Edges) {
	if m != nil {
		m.edges.Store(e)
	}
}

// fenced is what the API refuses requests with while the node may have been
// judged dead; nil without a cluster.
func (m *member) fenced() func() bool {
	if m == nil {
		return nil
	}
	return m.node.Fenced
}

// httpPlacer is what the API redirects with; nil without a cluster.
func (m *member) httpPlacer() api.Placer {
	if m == nil {
		return nil
	}
	return m.node.HTTP()
}

// rtspPlacer is what the RTSP server redirects with; nil without a cluster.
func (m *member) rtspPlacer() ingest.Placer {
	if m == nil {
		return nil
	}
	return m.node.RTSP()
}

// drainRooms marks the node draining, so new rooms and joins to rooms not
// live here go to other nodes, and waits until the rooms live here have
// emptied or drain_timeout has passed.
func (m *member) drainRooms() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.drain)
	defer cancel()
	if err := m.node.Drain(ctx); err != nil {
		m.log.Warn("cluster: could not mark the node draining", "err", err)
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		// Rooms kept open only by an idle broadcast program do not count.
		rooms := len(m.media.MediaRooms())
		if rooms == 0 {
			m.log.Info("drained: no live rooms left")
			return
		}
		select {
		case <-ctx.Done():
			m.log.Warn("drain_timeout passed with rooms still live; closing them", "rooms", rooms)
			return
		case <-tick.C:
		}
	}
}

// leave stops the heartbeats and removes the node from the registry with its
// placements, so its rooms are placed again at once.
func (m *member) leave() {
	if m == nil {
		return
	}
	m.stop()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.node.Leave(ctx); err != nil {
		m.log.Warn("cluster: could not leave the registry; other nodes wait for the heartbeat to expire", "err", err)
	}
}

// validRTSPBase reports whether u is rtsp(s)://host[:port] and nothing more.
func validRTSPBase(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "rtsp" || p.Scheme == "rtsps") && p.Host != "" &&
		(p.Path == "" || p.Path == "/") && p.User == nil && p.RawQuery == "" && p.Fragment == ""
}
