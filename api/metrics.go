package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"lectern/storage"
)

// metrics are the API's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, db *storage.DB) (*metrics, error) {
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
