package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"lectern/api"
	"lectern/cascade"
)

// edges returns what serves WHEP viewers of other nodes' rooms here (a
// cascade), or nil when clustering or cluster_cascade is off. Its edges end
// after the API's sessions and before the SFU.
func (p *process) edges(reg *prometheus.Registry) api.Cascade {
	if p.cluster == nil || !p.cfg.Cluster.Cascade {
		return nil
	}
	e, err := cascade.New(cascade.Config{Token: cascade.Credential(p.issuer), Loopback: p.cfg.WebRTCLoopback}, p.media, p.log)
	if err != nil {
		p.log.Warn("cluster_cascade: edges unavailable; viewers are redirected", "err", err)
		return nil
	}
	for _, c := range e.Collectors() {
		reg.MustRegister(c)
	}
	p.onStop(e.Close)
	p.cluster.endOnFence(e)
	return e
}
