package netlab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"lectern/internal/launch"
)

// Server is a lectern process (the binary that go build makes of
// cmd/lectern) listening for HTTP and WebRTC on the lab's server address
// only. Its URL, Log and Close are launch's.
type Server struct {
	*launch.Server
}

// ServerConfig says where a lab's server listens.
type ServerConfig struct {
	// IP is the address for HTTP and WebRTC.
	IP net.IP
	// UDPPort is the WebRTC port; 0 lets the server choose.
	UDPPort int
	// Announce, if set, is the address the server gives clients as its ICE
	// candidate instead of IP (the relay's).
	Announce net.IP
}

// StartServer runs bin with a data directory of its own and waits until it
// serves. Stop it with Close.
func StartServer(ctx context.Context, bin string, cfg ServerConfig) (*Server, error) {
	env := []string{"LECTERN_WEBRTC_LISTEN_IP=" + cfg.IP.String(), "LECTERN_WEBRTC_LOOPBACK=false"}
	if cfg.Announce != nil {
		env = append(env, "LECTERN_WEBRTC_PUBLIC_IPS="+cfg.Announce.String())
	}
	srv, err := launch.Start(ctx, bin, launch.Options{HTTPAddr: cfg.IP.String() + ":0", UDPPort: cfg.UDPPort,
		Env: env, Name: "lectern-netlab", ReadyWithin: 60 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	return &Server{srv}, nil
}

func (s *Server) api(ctx context.Context, method, path, body string, out any) error {
	if err := s.API(ctx, method, path, body, out); err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	return nil
}

// CreateRoom creates a conference room.
func (s *Server) CreateRoom(ctx context.Context, room string) error {
	return s.api(ctx, "POST", "/api/v1/rooms", fmt.Sprintf(`{"id":%q,"name":%q}`, room, room), nil)
}

// Token mints a token for identity in room: the member preset if publish,
// else the viewer preset (subscribe only).
func (s *Server) Token(ctx context.Context, room, identity string, publish bool) (string, error) {
	preset := "viewer"
	if publish {
		preset = "member"
	}
	var t struct {
		Token string `json:"token"`
	}
	err := s.api(ctx, "POST", "/api/v1/tokens", fmt.Sprintf(`{"identity":%q,"rooms":{%q:{"preset":%q}}}`, identity, room, preset), &t)
	return t.Token, err
}

// Estimate returns the server's bandwidth estimate for the subscriber
// connection of identity in room, in bits per second (0: none yet, or
// identity is not there).
func (s *Server) Estimate(ctx context.Context, room, identity string) (int64, error) {
	var out struct {
		Participants []struct {
			Identity string `json:"identity"`
			Downlink *struct {
				EstimateBps int64 `json:"estimate_bps"`
			} `json:"downlink"`
		} `json:"participants"`
	}
	if err := s.api(ctx, "GET", "/api/v1/rooms/"+room+"/participants", "", &out); err != nil {
		return 0, err
	}
	for _, p := range out.Participants {
		if p.Identity == identity && p.Downlink != nil {
			return p.Downlink.EstimateBps, nil
		}
	}
	return 0, nil
}

// Metrics returns the server's lectern_sfu_* samples from /metrics, summed
// over their labels.
func (s *Server) Metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("netlab: /metrics: %s", res.Status)
	}
	return parseMetrics(res.Body, "lectern_sfu_")
}

// parseMetrics sums Prometheus text samples whose names start with prefix.
func parseMetrics(r io.Reader, prefix string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// Labels may hold spaces: the value follows the closing brace.
			end := strings.LastIndexByte(line, '}')
			if end < 0 {
				continue
			}
			name, rest = line[:i], strings.TrimSpace(line[end+1:])
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}
