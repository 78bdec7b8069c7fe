package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"lectern/sfu"
	"lectern/storage"
)

// metrics are the API's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, db *storage.DB, media *sfu.SFU) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lectern_http_requests_total",
			Help: "HTTP requests by method, route and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lectern_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
	}
	stat := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lectern_db_" + name, Help: help,
			ConstLabels: prometheus.Labels{"backend": db.Backend()},
		}, f)
	}
	for _, col := range []prometheus.Collector{
		m.requests, m.latency,
		stat("open_connections", "Open database connections.", func() float64 { return float64(db.Stats().OpenConnections) }),
		stat("in_use_connections", "Database connections in use.", func() float64 { return float64(db.Stats().InUse) }),
		stat("idle_connections", "Idle database connections.", func() float64 { return float64(db.Stats().Idle) }),
		stat("wait_count", "Total waits for a database connection.", func() float64 { return float64(db.Stats().WaitCount) }),
		stat("wait_seconds", "Total time waited for a database connection.", func() float64 { return db.Stats().WaitDuration.Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_sfu_received_packets_total",
			Help: "RTP packets received from WebRTC publishers."}, func() float64 { return float64(media.Stats().Received) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_sfu_send_errors_total",
			Help: "Packets a subscriber connection failed to send."}, func() float64 { return float64(media.Stats().SendErrors) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_sfu_retransmitted_packets_total",
			Help: "Packets resent for subscribers' NACKs."}, func() float64 { return float64(media.Stats().Retransmitted) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_sfu_keyframe_requests_total",
			Help: "Keyframe requests (PLI) sent to publishers."}, func() float64 { return float64(media.Stats().KeyframeRequests) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lectern_sfu_rooms", Help: "Rooms with media activity."},
			func() float64 { return float64(media.Stats().Rooms) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lectern_sfu_participants", Help: "Connected media participants."},
			func() float64 { return float64(media.Stats().Participants) }),
	} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func metricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
