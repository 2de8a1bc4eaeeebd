package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, on a registry of their own
// (never the global one, so that several servers can live in one process
// and a test sees only its server's numbers).
type metrics struct {
	reg *prometheus.Registry

	// requests counts inference requests (infer and /classify) by protocol
	// ("rest", "grpc") and code (the HTTP status, or the gRPC code name).
	requests *prometheus.CounterVec
	// duration is the time from a request's arrival to its answer.
	duration *prometheus.HistogramVec
	// images counts images run through the engine; batches counts engine
	// executions, so images/batches is the mean batch size.
	images, batches prometheus.Counter
	// batchSize is the distribution of images per engine execution.
	batchSize prometheus.Histogram
	// preprocess is the time to decode and preprocess one request's
	// images; queue is the time from a request entering the batching
	// queue until its last image went to the engine; compute is the
	// engine's wall time per execution.
	preprocess, queue, compute prometheus.Histogram
	// depth is the number of images admitted but not yet handed to the
	// engine (being preprocessed or queued).
	depth prometheus.Gauge
}

// latencyBuckets span 50µs to about 40s.
var latencyBuckets = prometheus.ExponentialBuckets(50e-6, 2.5, 16)

// newMetrics builds the metrics of a server whose batches hold up to
// maxBatch images, with Go runtime and process collectors beside them.
func newMetrics(maxBatch int) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vkdeit_inference_requests_total",
			Help: "Inference requests answered, by protocol and status code.",
		}, []string{"protocol", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vkdeit_inference_request_seconds",
			Help:    "Time from an inference request's arrival to its answer.",
			Buckets: latencyBuckets,
		}, []string{"protocol"}),
		images: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vkdeit_inference_images_total",
			Help: "Images run through the engine.",
		}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vkdeit_inference_batches_total",
			Help: "Engine executions (batches).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vkdeit_inference_batch_size",
			Help:    "Images per engine execution.",
			Buckets: batchBuckets(maxBatch),
		}),
		preprocess: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vkdeit_inference_preprocess_seconds",
			Help:    "Time to decode and preprocess one request's images.",
			Buckets: latencyBuckets,
		}),
		queue: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vkdeit_inference_queue_seconds",
			Help:    "Time from a request entering the batching queue until its last image went to the engine.",
			Buckets: latencyBuckets,
		}),
		compute: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vkdeit_inference_compute_seconds",
			Help:    "Engine wall time per execution.",
			Buckets: latencyBuckets,
		}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vkdeit_inference_queue_depth",
			Help: "Images admitted but not yet handed to the engine.",
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.images, m.batches, m.batchSize,
		m.preprocess, m.queue, m.compute, m.depth,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// batchBuckets are 1, 2, 4, ... up to maxBatch, and maxBatch itself.
func batchBuckets(maxBatch int) []float64 {
	var b []float64
	for v := 1; v < maxBatch; v *= 2 {
		b = append(b, float64(v))
	}
	return append(b, float64(maxBatch))
}

// handler serves the metrics in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
