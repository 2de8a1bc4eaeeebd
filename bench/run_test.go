package bench

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// tinyModel is a 2-layer, 32-pixel model: the real network structure at a
// size that runs in milliseconds on any engine.
func tinyModel(t *testing.T) *deit.Model {
	t.Helper()
	cfg := deit.Config{Hidden: 32, Layers: 2, Heads: 2, MLP: 64, ImageSize: 32, PatchSize: 8,
		Channels: 3, NumLabels: 10, Eps: 1e-6, Head: deit.HeadDistilled}
	require.NoError(t, cfg.Validate())
	return &deit.Model{Config: cfg, Weights: deit.RandomWeights(cfg, 7)}
}

// refTarget is the reference engine as a bench target.
func refTarget(m *deit.Model, batches ...int) Target {
	return Target{Path: "ref", Batches: batches, Open: func(b int) (engine.Engine, error) {
		return engine.NewReference(m, b, engine.ReferenceOptions{})
	}}
}

func TestRunReference(t *testing.T) {
	m := tinyModel(t)
	var log bytes.Buffer
	r, err := Run(context.Background(), Options{Model: m, ModelName: "tiny", Targets: []Target{refTarget(m, 2, 1, 2)},
		Warmup: 1, Iters: 4, Seed: 3, Log: &log})
	require.NoError(t, err)
	require.Len(t, r.Paths, 1)
	p := r.Paths[0]
	require.Equal(t, "ref", p.Path)
	require.Contains(t, p.Label, "reference")
	require.Len(t, p.Batches, 2, "batches are sorted and deduplicated")
	for i, b := range []int{1, 2} {
		br := p.Batches[i]
		require.Equal(t, b, br.Batch)
		require.Equal(t, 4, br.Latency.N)
		require.Greater(t, br.Latency.P50, 0.0)
		require.LessOrEqual(t, br.Latency.Min, br.Latency.P50)
		require.LessOrEqual(t, br.Latency.P50, br.Latency.P99)
		// img/s is images over the summed latencies, so mean latency × img/s = batch.
		require.InDelta(t, float64(b), br.ImgPerSec*br.Latency.Mean/1e3, 1e-6*float64(b))
		require.InDelta(t, br.ImgPerSec*m.Config.FLOPs()/1e12, br.TFLOPS, 1e-12)
		require.Zero(t, br.DeviceMs)
	}
	require.InDelta(t, m.Config.FLOPs()/1e9, r.GFLOPPerImage, 1e-12)
	require.Nil(t, r.Parity)
	require.Contains(t, log.String(), "bench: ref batch 2: 4 iterations")

	_, err = Run(context.Background(), Options{Model: m, Iters: 1})
	require.ErrorContains(t, err, "nothing to run")
	_, err = Run(context.Background(), Options{Model: m, Targets: []Target{refTarget(m, 0)}, Iters: 1})
	require.ErrorContains(t, err, "batch size must be ≥ 1")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Run(ctx, Options{Model: m, Targets: []Target{refTarget(m, 1)}, Iters: 2})
	require.ErrorIs(t, err, context.Canceled)
}

// TestRunBounds: batches whose input would not fit the host budget are
// skipped before anything is allocated, and MaxTime bounds the whole run.
func TestRunBounds(t *testing.T) {
	m := tinyModel(t)
	per := int64(3 * 32 * 32 * 4)
	r, err := Run(context.Background(), Options{Model: m, Targets: []Target{refTarget(m, 1, 100000000)},
		Iters: 1, HostBytes: 10 * per})
	require.NoError(t, err)
	require.Len(t, r.Paths[0].Batches, 1)
	require.Contains(t, r.Notes[0], "ref batch 100000000 skipped: its input needs 1.1 TiB")

	start := time.Now()
	r, err = Run(context.Background(), Options{Model: m, Targets: []Target{refTarget(m, 1, 2, 4)},
		Warmup: 1000, Iters: 1000000, MaxTime: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Less(t, time.Since(start), 3*time.Second, "MaxTime bounds the run")
	for _, br := range r.Paths[0].Batches {
		require.GreaterOrEqual(t, br.Latency.N, 1)
		require.Less(t, br.Latency.N, 1000000)
	}
}

// TestRunNothingMeasured: a run in which every batch size was skipped is
// an error that gives the reasons, not an empty report.
func TestRunNothingMeasured(t *testing.T) {
	m := tinyModel(t)
	per := int64(3 * 32 * 32 * 4)
	for _, tt := range []struct {
		name    string
		targets []Target
		host    int64
		msg     string
	}{
		{"every input too large", []Target{refTarget(m, 2, 4)}, per,
			"bench: nothing was measured: ref batch 2 skipped: its input needs 24.0 KiB, more than the 12.0 KiB of host memory set aside for inputs; ref batch 4 skipped"},
		{"no batch sizes", []Target{refTarget(m)}, 0, "bench: nothing was measured: no batch sizes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Run(context.Background(), Options{Model: m, Targets: tt.targets, Iters: 1, HostBytes: tt.host})
			require.ErrorContains(t, err, tt.msg)
			require.Nil(t, r)
		})
	}
}

func TestRunGPU(t *testing.T) {
	m := tinyModel(t)
	d := gputest.Open(t)
	gpuTarget := Target{Path: "gpu", Batches: []int{1, 3}, Open: func(b int) (engine.Engine, error) {
		return engine.NewGPU(d, m, b, engine.GPUOptions{})
	}}
	r, err := Run(context.Background(), Options{Model: m, ModelName: "tiny", Targets: []Target{gpuTarget, refTarget(m, 1)},
		Warmup: 1, Iters: 3, ProfileRuns: 2, Seed: 5})
	require.NoError(t, err)
	require.Len(t, r.Paths, 2)
	require.Equal(t, d.Info().Name, r.Device.Name)
	g := r.Paths[0]
	require.Equal(t, "gpu", g.Path)
	require.Len(t, g.Batches, 2)
	for _, br := range g.Batches {
		require.Equal(t, 3, br.Latency.N)
		require.Greater(t, br.ImgPerSec, 0.0)
		if !d.Info().Timestamps {
			continue
		}
		require.Greater(t, br.DeviceMs, 0.0)
		require.NotEmpty(t, br.Kernels)
		var share float64
		kinds := map[string]bool{}
		for _, k := range br.Kernels {
			share += k.Share
			kinds[k.Kernel] = true
		}
		require.InDelta(t, 1, share, 1e-9)
		require.True(t, kinds["matmul"] && kinds["attention"], "kernels: %v", kinds)
	}
	// Every matmul and attention step names its configuration; without a
	// tuning they all come from the heuristic.
	for _, br := range g.Batches {
		require.Len(t, br.Configs, 5*m.Config.Layers+2, "batch %d", br.Batch)
		for _, c := range br.Configs {
			require.NotEmpty(t, c.Config, c.Step)
			require.False(t, c.Tuned, c.Step)
		}
	}
	// The two engines ran on the same input: their logits agree.
	require.Len(t, r.Parity, 1)
	pp := r.Parity[0]
	require.Equal(t, [3]any{1, "gpu", "ref"}, [3]any{pp.Batch, pp.Path, pp.Base})
	require.Less(t, pp.RelL2, 1e-4, "GPU vs reference logits, worst element %d (abs %g)", pp.Worst, pp.MaxAbs)
	r.ComputeRatios()
	require.Equal(t, []Ratio{{Batch: 1, Num: "gpu", Den: "ref", Value: r.Ratios[0].Value}}, r.Ratios)
}

// slowEngine is an engine whose passes take perImage per image (slept, so
// never less) and that counts them by batch size; it can time its
// "kernels" (one step), as the GPU and CPU engines do.
type slowEngine struct {
	cfg      deit.Config
	perImage time.Duration
	mu       sync.Mutex
	forwards map[int]int
	profiles map[int]int
}

func newSlowEngine(cfg deit.Config, perImage time.Duration) *slowEngine {
	return &slowEngine{cfg: cfg, perImage: perImage, forwards: map[int]int{}, profiles: map[int]int{}}
}

func (s *slowEngine) pass(B int, count map[int]int) []float32 {
	time.Sleep(time.Duration(B) * s.perImage)
	s.mu.Lock()
	count[B]++
	s.mu.Unlock()
	return make([]float32, B*s.cfg.NumLabels)
}

func (s *slowEngine) Forward(ctx context.Context, _ []float32, B int) ([]float32, error) {
	return s.pass(B, s.forwards), nil
}

func (s *slowEngine) Run(ctx context.Context, px []float32, B int, _ deit.Tap) (*engine.Output, error) {
	l, err := s.Forward(ctx, px, B)
	return &engine.Output{Logits: l}, err
}

func (s *slowEngine) Profile(_ context.Context, _ []float32, B int) ([]float32, []engine.StepTime, error) {
	l := s.pass(B, s.profiles)
	return l, []engine.StepTime{{Step: "all", Kernel: "matmul", Nanos: float64(time.Duration(B) * s.perImage)}}, nil
}

func (s *slowEngine) MaxBatch() int             { return 1 << 20 }
func (s *slowEngine) Config() deit.Config       { return s.cfg }
func (s *slowEngine) Name() string              { return "slow" }
func (s *slowEngine) Precision() deit.Precision { return deit.FP32 }
func (s *slowEngine) Arithmetic() string        { return "fp32" }
func (s *slowEngine) Close() error              { return nil }
func (s *slowEngine) calls(b int) (fwd, prof int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forwards[b], s.profiles[b]
}

// TestRunMaxTimeBoundsEverything: --max-time bounds warm-up, timed and
// kernel-timed passes alike. A batch whose one pass is expected (from the
// smaller batch's time per image) to outlast what is left is skipped
// before any pass, and kernel-timed passes stop at the bound, each with a
// note. Passes sleep, so a loaded machine can only make them slower: the
// counts below are upper bounds whatever the load.
func TestRunMaxTimeBoundsEverything(t *testing.T) {
	m := tinyModel(t)
	const perImage = 2 * time.Millisecond
	for _, tc := range []struct {
		name            string
		batches         []int
		maxTime         time.Duration
		warmup, profile int
		skipped         []int // batches never run
		maxProfiles     int   // kernel-timed passes of batch 1 at most
		notes           []string
	}{
		// One pass at batch 64 takes ≥ 128 ms: more than the whole run.
		{"large batch skipped", []int{1, 64}, 100 * time.Millisecond, 1, 3, []int{64}, 3,
			[]string{"slow batch 64 skipped: one pass is expected to take "}},
		// 400 kernel-timed passes of ≥ 20 ms cannot fit in 200 ms.
		{"profiles bounded", []int{10}, 200 * time.Millisecond, 0, 400, nil, 200 / 20,
			[]string{"slow batch 10: kernel breakdown from"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := newSlowEngine(m.Config, perImage)
			target := Target{Path: "slow", Batches: tc.batches, Open: func(int) (engine.Engine, error) { return eng, nil }}
			r, err := Run(context.Background(), Options{Model: m, Targets: []Target{target},
				Warmup: tc.warmup, Iters: 1000, ProfileRuns: tc.profile, MaxTime: tc.maxTime})
			require.NoError(t, err)
			for _, b := range tc.skipped {
				fwd, prof := eng.calls(b)
				require.Zero(t, fwd+prof, "batch %d must not run", b)
			}
			_, prof := eng.calls(tc.batches[0])
			require.LessOrEqual(t, prof, tc.maxProfiles)
			notes := strings.Join(r.Notes, "\n")
			for _, n := range tc.notes {
				require.Contains(t, notes, n)
			}
		})
	}
}
