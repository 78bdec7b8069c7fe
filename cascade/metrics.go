package cascade

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// feedNames label the feeds in metrics: the video layers by rank, then the audio.
var feedNames = [...]string{"q", "h", "f", "audio"}

// counters are the edges' running totals, by feed.
type counters struct {
	// pulled counts the RTP bytes received from owners; pulls counts the
	// pulls open now (the audio rides the q pull and counts none).
	pulled [4]atomic.Uint64
	pulls  [3]atomic.Int64
}

// Collectors returns the edges' metrics: lectern_cascade_pulled_bytes_total
// and lectern_cascade_pulls by layer, lectern_cascade_edges.
func (e *Edges) Collectors() []prometheus.Collector {
	var cs []prometheus.Collector
	for i, name := range feedNames {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_cascade_pulled_bytes_total",
			Help: "RTP bytes this node's cascade edges received from rooms' nodes, by layer.", ConstLabels: prometheus.Labels{"layer": name}},
			func() float64 { return float64(e.stats.pulled[i].Load()) }))
		if i < 3 {
			cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lectern_cascade_pulls",
				Help: "Layers this node's cascade edges pull from rooms' nodes now.", ConstLabels: prometheus.Labels{"layer": name}},
				func() float64 { return float64(e.stats.pulls[i].Load()) }))
		}
	}
	cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lectern_cascade_edges",
		Help: "Rooms this node serves as a cascade edge."}, func() float64 { return float64(len(e.Rooms())) }))
	return cs
}
