package netlab

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// crew is a scenario's browsers and the samples taken from them. It is used
// by Run's goroutine only.
type crew struct {
	relay         *Relay // nil without delays
	camera        string
	pubs          []*Browser
	pubNodes      []*Node
	viewer        *Browser
	viewerNode    *Node
	pubIDs        []string
	viewerSamples []Sample
	pubSamples    []Sample // the first publisher's
	// estimates are the server's estimates for the viewer, one per take.
	estimates []Estimate
	problems  []string
	srv       *Server
	room      string
}

func (c *crew) start(ctx context.Context, lab *Lab, srv *Server, room string, publishers int) error {
	if publishers < 1 {
		return errors.New("netlab: a scenario needs a publisher")
	}
	c.srv, c.room = srv, room
	var err error
	if c.viewerNode, err = lab.AddNode(ctx, "viewer"); err != nil {
		return err
	}
	if err := c.block(ctx, lab, c.viewerNode); err != nil {
		return err
	}
	if c.viewer, err = StartBrowser(ctx, c.viewerNode, srv.URL, ""); err != nil {
		return err
	}
	token, err := srv.Token(ctx, room, "viewer", false)
	if err != nil {
		return err
	}
	if _, err := c.viewer.Watch(ctx, room, token); err != nil {
		return err
	}
	for i := range publishers {
		name := "pub" + strconv.Itoa(i+1)
		node, err := lab.AddNode(ctx, name)
		if err != nil {
			return err
		}
		c.pubNodes = append(c.pubNodes, node)
		if err := c.block(ctx, lab, node); err != nil {
			return err
		}
		b, err := StartBrowser(ctx, node, srv.URL, c.camera)
		if err != nil {
			return err
		}
		c.pubs = append(c.pubs, b)
		token, err := srv.Token(ctx, room, name, true)
		if err != nil {
			return err
		}
		id, err := b.Publish(ctx, room, token)
		if err != nil {
			return err
		}
		c.pubIDs = append(c.pubIDs, id)
	}
	return nil
}

// block makes a relayed crew's media take the relay's way only.
func (c *crew) block(ctx context.Context, lab *Lab, n *Node) error {
	if c.relay == nil {
		return nil
	}
	return n.BlockUDPFrom(ctx, lab.ServerIP)
}

func (c *crew) close() {
	var wg sync.WaitGroup
	for _, b := range append(c.pubs, c.viewer) {
		if b != nil {
			wg.Go(b.Close)
		}
	}
	wg.Wait()
}

// waitCameras waits until the viewer decoded frames of every publisher's camera.
func (c *crew) waitCameras(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if err := c.take(ctx); err != nil {
			return err
		}
		ok := len(c.viewerSamples) > 0
		if ok {
			last := c.viewerSamples[len(c.viewerSamples)-1]
			for _, id := range c.pubIDs {
				if in, found := last.inbound(id + "/camera"); !found || in.Frames == 0 {
					ok = false
				}
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			var last any
			if n := len(c.viewerSamples); n > 0 {
				last = c.viewerSamples[n-1]
			}
			return fmt.Errorf("netlab: the viewer did not decode every camera within %v; last sample %+v; problems %v", within, last, c.problems)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

// apply sets a phase's network conditions.
func (c *crew) apply(ctx context.Context, ph Phase) error {
	if err := c.viewerNode.SetDown(ctx, ph.ViewerDown); err != nil {
		return err
	}
	if err := c.viewerNode.SetLoss(ctx, ph.ViewerLoss, 0); err != nil {
		return err
	}
	if c.relay != nil {
		c.relay.SetDelay(addr(c.viewerNode.IP), ph.ViewerDelay)
		for _, n := range c.pubNodes {
			c.relay.SetDelay(addr(n.IP), ph.PublisherDelay)
		}
	}
	for _, n := range c.pubNodes {
		if err := n.SetUp(ctx, ph.PublisherUp); err != nil {
			return err
		}
		if err := n.SetLoss(ctx, 0, ph.PublisherLoss); err != nil {
			return err
		}
	}
	return nil
}

// sample collects samples for d.
func (c *crew) sample(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if err := sleep(ctx, min(time.Second, time.Until(end))); err != nil {
			return err
		}
		if err := c.take(ctx); err != nil {
			return err
		}
	}
	return nil
}

// take fetches the samples the pages took since the last call.
func (c *crew) take(ctx context.Context) error {
	s, problems, err := c.viewer.Take(ctx)
	if err != nil {
		return err
	}
	c.viewerSamples = append(c.viewerSamples, s...)
	c.problems = problems
	bps, err := c.srv.Estimate(ctx, c.room, "viewer")
	if err != nil {
		return err
	}
	c.estimates = append(c.estimates, Estimate{T: time.Now().UnixMilli(), Bps: bps})
	if len(c.pubs) > 0 {
		s, _, err := c.pubs[0].Take(ctx)
		if err != nil {
			return err
		}
		c.pubSamples = append(c.pubSamples, s...)
	}
	for _, b := range c.pubs[min(1, len(c.pubs)):] {
		// The other publishers' samples are dropped, not kept in their pages.
		if _, _, err := b.Take(ctx); err != nil {
			return err
		}
	}
	return nil
}
