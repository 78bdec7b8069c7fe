package usage

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the tracker's Prometheus series. Their only labels are the
// app (one per app the operator made: a bounded set) and the role
// (participant or viewer); never a room or an identity.
type metrics struct {
	presentSeconds *prometheus.CounterVec
	joins          *prometheus.CounterVec
	sessions       *prometheus.CounterVec
	present        *prometheus.GaugeVec
	flushSeconds   prometheus.Histogram
	flushFailures  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		presentSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lectern_usage_present_seconds_total",
			Help: "Seconds participants (WebRTC, WHIP, WHEP, RTSP) and HLS viewers were present on this node, by app and role; divided by 60, the usage report's participant- and viewer-minutes.",
		}, []string{"app", "role"}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lectern_usage_joins_total",
			Help: "Participants who joined and HLS viewers who started watching on this node, by app and role.",
		}, []string{"app", "role"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lectern_usage_room_sessions_total",
			Help: "Room sessions (attendance reports) started on this node, by app.",
		}, []string{"app"}),
		present: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lectern_usage_present",
			Help: "Participants and HLS viewers present on this node now, by app and role.",
		}, []string{"app", "role"}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lectern_usage_flush_seconds",
			Help:    "Time to write one batch of usage and attendance to the database.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		flushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lectern_usage_flush_failures_total",
			Help: "Usage and attendance batches the database refused (each is kept for the next flush).",
		}),
	}
	for _, c := range []prometheus.Collector{m.presentSeconds, m.joins, m.sessions, m.present, m.flushSeconds, m.flushFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// seconds counts d of presence of role in app.
func (m *metrics) seconds(app, role string, d time.Duration) {
	m.presentSeconds.WithLabelValues(app, role).Add(d.Seconds())
}
