package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"

	"github.com/gin-gonic/gin"
)

// peerLister is a Placer that also knows the other live nodes (cluster.URLs).
type peerLister interface {
	Peers(ctx context.Context) ([]string, error)
}

// peersLive asks every other live node for its live rooms, with the caller's
// credentials, in parallel within placementTimeout. It returns their rooms
// and the nodes that did not answer.
func (n *roomNodes) peersLive(c *gin.Context) (rooms []liveRoomJSON, unreachable []string) {
	pl, ok := n.placer.(peerLister)
	if !ok {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), placementTimeout)
	defer cancel()
	peers, err := pl.Peers(ctx)
	if err != nil {
		n.log.Warn("listing the live nodes failed", "err", err)
		return nil, []string{"the node registry"}
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, base := range peers {
		wg.Go(func() {
			got, err := n.askLive(ctx, base, c.GetHeader("Authorization"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				n.log.Warn("a node did not list its live rooms", "node", base, "err", err)
				unreachable = append(unreachable, base)
				return
			}
			rooms = append(rooms, got...)
		})
	}
	wg.Wait()
	slices.Sort(unreachable)
	return rooms, unreachable
}

// askLive is GET {base}/api/v1/live on one node, marked forwarded so that it
// answers for itself only.
func (n *roomNodes) askLive(ctx context.Context, base, auth string) ([]liveRoomJSON, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/live", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set(forwardedHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errorf(http.StatusBadGateway, codeNodeUnreachable, "%s answered %d", base, resp.StatusCode)
	}
	var body struct {
		Rooms []liveRoomJSON `json:"rooms"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 8<<20)).Decode(&body); err != nil {
		return nil, err
	}
	return body.Rooms, nil
}
