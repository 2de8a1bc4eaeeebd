package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, on a registry of their own
// (never the global one, so that several servers can live in one process
// and a test sees only its server's numbers). Every series has a "model"
// label: the model a request named (empty when it named none, for
// /classify on a server of several models), or the model whose batcher
// and engine did the work.
type metrics struct {
	reg *prometheus.Registry

	// requests counts inference requests (infer and /classify) by model,
	// protocol ("rest", "grpc") and code (the HTTP status, or the gRPC
	// code name).
	requests *prometheus.CounterVec
	// duration is the time from a request's arrival to its answer.
	duration *prometheus.HistogramVec
	// images counts images run through the engine; batches counts engine
	// executions, so images/batches is the mean batch size.
	images, batches *prometheus.CounterVec
	// batchSize is the distribution of images per engine execution.
	batchSize *prometheus.HistogramVec
	// preprocess is the time to decode and preprocess one request's
	// images; queue is the time from a request entering the batching
	// queue until its last image went to the engine; compute is the
	// engine's wall time per execution.
	preprocess, queue, compute *prometheus.HistogramVec
	// depth is the number of images admitted but not yet handed to the
	// engine (being preprocessed or queued).
	depth *prometheus.GaugeVec
}

// latencyBuckets span 50µs to about 40s.
var latencyBuckets = prometheus.ExponentialBuckets(50e-6, 2.5, 16)

// newMetrics builds the metrics of a server whose batches hold up to
// maxBatch images, with Go runtime and process collectors beside them.
func newMetrics(maxBatch int) *metrics {
	model := []string{"model"}
	hist := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, model)
	}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vkdeit_inference_requests_total",
			Help: "Inference requests answered, by model, protocol and status code.",
		}, []string{"model", "protocol", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vkdeit_inference_request_seconds",
			Help:    "Time from an inference request's arrival to its answer.",
			Buckets: latencyBuckets,
		}, []string{"model", "protocol"}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vkdeit_inference_images_total",
			Help: "Images run through the engine.",
		}, model),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vkdeit_inference_batches_total",
			Help: "Engine executions (batches).",
		}, model),
		batchSize:  hist("vkdeit_inference_batch_size", "Images per engine execution.", batchBuckets(maxBatch)),
		preprocess: hist("vkdeit_inference_preprocess_seconds", "Time to decode and preprocess one request's images.", latencyBuckets),
		queue:      hist("vkdeit_inference_queue_seconds", "Time from a request entering the batching queue until its last image went to the engine.", latencyBuckets),
		compute:    hist("vkdeit_inference_compute_seconds", "Engine wall time per execution.", latencyBuckets),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vkdeit_inference_queue_depth",
			Help: "Images admitted but not yet handed to the engine.",
		}, model),
	}
	m.reg.MustRegister(m.requests, m.duration, m.images, m.batches, m.batchSize,
		m.preprocess, m.queue, m.compute, m.depth,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// modelMetrics are one model's series of the engine-side metrics, for its
// batcher and decoders.
type modelMetrics struct {
	images, batches                       prometheus.Counter
	batchSize, preprocess, queue, compute prometheus.Observer
	depth                                 prometheus.Gauge
}

// forModel returns model name's series (created at zero, so that a
// scrape shows a loaded model before its first request).
func (m *metrics) forModel(name string) *modelMetrics {
	return &modelMetrics{
		images: m.images.WithLabelValues(name), batches: m.batches.WithLabelValues(name),
		batchSize: m.batchSize.WithLabelValues(name), preprocess: m.preprocess.WithLabelValues(name),
		queue: m.queue.WithLabelValues(name), compute: m.compute.WithLabelValues(name),
		depth: m.depth.WithLabelValues(name),
	}
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
