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
	recordings *prometheus.CounterVec
	dropped    prometheus.Counter
}

// Outcomes of sessionconnector_recordings_total.
const (
	recordingComplete   = "complete"    // stored, the whole session
	recordingIncomplete = "incomplete"  // stored, with PDUs dropped (BestEffort)
	recordingFailed     = "failed"      // not finished: left in the spool for the next start
	recordingNotStarted = "not_started" // the session ran unrecorded (BestEffort) or was refused
)

// newMetrics returns the proxy's metrics; spooled, when set, reports the bytes of recordings
// waiting in the spool.
func newMetrics(reg prometheus.Registerer, spooled func() float64) (*metrics, error) {
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
		recordings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionconnector_recordings_total",
			Help: "Session recordings by outcome (complete, incomplete: PDUs dropped, failed: left in the spool, not_started).",
		}, []string{"outcome"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionconnector_recording_dropped_pdus_total",
			Help: "PDUs best-effort recordings left out because the recorder could not keep up.",
		}),
	}
	collectors := []prometheus.Collector{m.active, m.handshakes, m.latency, m.bytes, m.ended, m.recordings, m.dropped}
	if spooled != nil {
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sessionconnector_recording_spool_bytes",
			Help: "Bytes of recordings waiting in the spool for S3 (see --spool-limit).",
		}, spooled))
	}
	if reg != nil {
		for _, c := range collectors {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
