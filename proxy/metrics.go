package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics of a proxy. Labels never carry user names, tickets or addresses.
type metrics struct {
	active     prometheus.Gauge
	handshakes *prometheus.CounterVec
	latency    prometheus.Histogram
	bytes      *prometheus.CounterVec
	ended      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionconnector_proxy_active_sessions",
			Help: "Sessions being relayed now.",
		}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionconnector_proxy_handshakes_total",
			Help: "Connections by handshake outcome (ok or rejected) and reason.",
		}, []string{"outcome", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sessionconnector_proxy_handshake_duration_seconds",
			Help:    "Time from accept to the start of the relay, for successful handshakes.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionconnector_proxy_relayed_bytes_total",
			Help: "Bytes relayed after the handshake, by direction (client_to_target, target_to_client).",
		}, []string{"direction"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionconnector_proxy_sessions_ended_total",
			Help: "Relayed sessions by how they ended.",
		}, []string{"reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.active, m.handshakes, m.latency, m.bytes, m.ended} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
