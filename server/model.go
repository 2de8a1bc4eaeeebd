package server

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
)

// model is one model a server serves: its engine, its own batching queue
// (batcher) and image decoders, and its state. Requests for different
// models never share a batch or a queue place.
type model struct {
	name, version string
	m             *deit.Model
	eng           engine.Engine
	cfg           deit.Config
	// maxBatch is Options.MaxBatch lowered to what the engine was built
	// for; maxQueue is Options.MaxQueue (per model).
	maxBatch, maxQueue int
	b                  *batcher
	prep               *prepPool
	met                *modelMetrics
	// owned: the engine came from the Repository and the server closes it
	// when it unloads the model; an engine given to New stays the caller's.
	owned bool
	// state is the model's lifecycle: loading (warming up), ready,
	// unloading.
	state atomic.Int32
}

// Model states, as the repository index names them.
const (
	stateLoading int32 = iota
	stateReady
	stateUnloading
)

// stateNames are the repository extension's state names.
var stateNames = map[int32]string{stateLoading: "LOADING", stateReady: "READY", stateUnloading: "UNLOADING"}

// newModel builds model name (not started) on engine e with the server's
// options.
func (s *Server) newModel(name string, m *deit.Model, e engine.Engine, owned bool) (*model, error) {
	if m == nil || e == nil {
		return nil, errors.New("nil model or engine")
	}
	cfg := m.Config
	if ec := e.Config(); ec.Hidden != cfg.Hidden || ec.NumLabels != cfg.NumLabels || ec.ImageSize != cfg.ImageSize ||
		ec.Channels != cfg.Channels || ec.HeadTokens() != cfg.HeadTokens() {
		return nil, errors.New("the engine was built for another model")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	maxBatch := s.opts.MaxBatch
	if em := e.MaxBatch(); maxBatch > em {
		s.log.Warn("max batch lowered to what the engine was built for", "model", name, "asked", maxBatch, "max_batch", em)
		maxBatch = em
	}
	md := &model{name: name, version: s.opts.Version, m: m, eng: e, cfg: cfg, maxBatch: maxBatch,
		maxQueue: max(s.opts.MaxQueue, maxBatch), owned: owned, met: s.met.forModel(name)}
	md.b = newBatcher(e, cfg, maxBatch, s.opts.MaxDelay, md.maxQueue, md.met, s.log.With("model", name))
	md.prep = newPrepPool(m, s.opts.Decode, s.opts.Workers, s.log.With("model", name))
	return md, nil
}

// start launches the model's batcher and decoders.
func (md *model) start() {
	md.b.start()
	md.prep.start()
}

// ready reports whether the model takes requests.
func (md *model) ready() bool { return md.state.Load() == stateReady }

// warm runs the engine once at every batch size from 1 to maxBatch (the
// sizes the batcher forms), so that the first requests pay no one-time
// costs: a GPU engine records a command buffer per batch size. Triton
// users ask that readiness wait for this; it does.
func (md *model) warm(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	px := make([]float32, md.maxBatch*md.cfg.Channels*md.cfg.ImageSize*md.cfg.ImageSize)
	per := len(px) / md.maxBatch
	for b := 1; b <= md.maxBatch; b++ {
		if _, err := md.eng.Run(ctx, px[:b*per], b, 0); err != nil {
			return 0, fmt.Errorf("warm-up at batch size %d: %w", b, err)
		}
	}
	return time.Since(t0), nil
}

// stop drains the model's queue (within ctx), stops its goroutines and
// closes an owned engine. Requests still queued when ctx ends fail with
// errShuttingDown.
func (md *model) stop(ctx context.Context) error {
	err := md.b.close(ctx)
	if err != nil {
		md.b.abort()
		grace, cancel := context.WithTimeout(context.Background(), time.Second)
		md.b.close(grace)
		cancel()
	}
	md.b.stop()
	md.prep.stop()
	if md.owned {
		if cerr := md.eng.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// modelConfigJSON is GET /v2/models/NAME/config's answer: Triton's model
// configuration (model_config.proto's ModelConfig, field names as
// protobuf's JSON mapping with original names writes them), the fields that
// describe a vkdeit model. Dims leave out the batch dimension, as they do
// when max_batch_size > 0.
type modelConfigJSON struct {
	Name            string              `json:"name"`
	Platform        string              `json:"platform"`
	Backend         string              `json:"backend"`
	MaxBatchSize    int                 `json:"max_batch_size"`
	Input           []modelIOJSON       `json:"input"`
	Output          []modelIOJSON       `json:"output"`
	DynamicBatching dynamicBatchingJSON `json:"dynamic_batching"`
}

// modelIOJSON is a ModelInput or ModelOutput.
type modelIOJSON struct {
	Name     string  `json:"name"`
	DataType string  `json:"data_type"`
	Format   string  `json:"format,omitempty"`
	Dims     []int64 `json:"dims"`
	Optional bool    `json:"optional,omitempty"`
}

// dynamicBatchingJSON is a ModelDynamicBatching.
type dynamicBatchingJSON struct {
	PreferredBatchSize        []int32 `json:"preferred_batch_size"`
	MaxQueueDelayMicroseconds uint64  `json:"max_queue_delay_microseconds"`
}

// config is the model's Triton configuration. Both inputs are optional (a
// request carries exactly one); image takes dims [1] as Triton lays out a
// batch of strings ([B, 1]; the server takes [B] too). The dynamic batcher
// forms batches of any size up to max_batch_size, so it prefers none.
func (md *model) config(opts Options) modelConfigJSON {
	c := md.cfg
	mc := modelConfigJSON{
		Name: md.name, Platform: platform, Backend: platform, MaxBatchSize: md.maxBatch,
		Input: []modelIOJSON{
			{Name: inputPixels, DataType: "TYPE_FP32", Format: "FORMAT_NCHW", Dims: []int64{int64(c.Channels), int64(c.ImageSize), int64(c.ImageSize)}, Optional: true},
			{Name: inputImage, DataType: "TYPE_STRING", Dims: []int64{1}, Optional: true},
		},
		DynamicBatching: dynamicBatchingJSON{PreferredBatchSize: []int32{}, MaxQueueDelayMicroseconds: uint64(opts.MaxDelay.Microseconds())},
	}
	for _, n := range md.outputNames() {
		mc.Output = append(mc.Output, modelIOJSON{Name: n, DataType: "TYPE_FP32", Dims: md.outputDims(n)})
	}
	return mc
}
