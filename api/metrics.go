package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"lectern/hls"
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
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_sfu_nacked_packets_total",
			Help: "Packets lost on publishers' uplinks and asked for again (NACK)."}, func() float64 { return float64(media.Stats().NACKed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_sfu_recovered_packets_total",
			Help: "Packets asked for again that publishers resent in time."}, func() float64 { return float64(media.Stats().Recovered) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_sfu_queue_dropped_packets_total",
			Help: "Packets subscribers' send queues dropped: older than 150 ms, or pushed out of a full queue."}, func() float64 { return float64(media.Stats().QueueDrops) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_sfu_keyframe_replays_total",
			Help: "Subscribers started at a recent keyframe kept in the packet cache instead of waiting for a new one."}, func() float64 { return float64(media.Stats().Replays) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lectern_sfu_rooms", Help: "Rooms with participants or tracks."},
			func() float64 { return float64(len(media.MediaRooms())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lectern_sfu_participants", Help: "Connected media participants."},
			func() float64 { return float64(media.Stats().Participants) }),
	} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerHLSMetrics adds the broadcast service's figures (hls.Stats).
func registerHLSMetrics(reg prometheus.Registerer, svc *hls.Service) error {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lectern_hls_" + name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lectern_hls_" + name, Help: help}, f)
	}
	for _, col := range []prometheus.Collector{
		counter("requests_total", "HLS playlist, part, segment and init requests served.", func() float64 { return float64(svc.Stats().Requests) }),
		counter("parts_total", "LL-HLS parts published.", func() float64 { return float64(svc.Stats().Parts) }),
		gauge("waiting_requests", "Blocking HLS requests held now.", func() float64 { return float64(svc.Stats().Waiting) }),
		gauge("part_delay_p50_seconds", "Median delay from a part's last frame to its playlist, over the last 4096 parts.",
			func() float64 { return svc.Stats().PartDelayP50.Seconds() }),
		gauge("part_delay_p99_seconds", "99th percentile of the same delay.", func() float64 { return svc.Stats().PartDelayP99.Seconds() }),
		gauge("viewers", "HLS viewers of every room: clients that loaded a media playlist in the last 10 s.", func() float64 { return float64(svc.Viewers()) }),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

func metricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
