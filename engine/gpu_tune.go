package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
)

// KernelChoice is the configuration one step of the plan runs with on the
// GPU engine at some batch size.
type KernelChoice struct {
	Step   string `json:"step"`   // e.g. "layer3.fc1"
	Shape  string `json:"shape"`  // gpu.Shape.Key, e.g. "matmul 198x1536x384 f32->f32"
	Config string `json:"config"` // gpu.KernelConfig.String, e.g. "tiled 64x64x16 4x4 wg256"
	Tuned  bool   `json:"tuned"`  // from the device's tuning (false: the heuristic)
}

// stepShape is the gpu.Shape of plan step i at batch B; ok is false for
// steps the tuner does not choose configurations for.
func (e *GPU) stepShape(i, B int) (gpu.Shape, bool) {
	step := e.plan.Steps[i]
	si := step.Info()
	var s gpu.Shape
	switch st := step.(type) {
	case *deit.Linear:
		s = gpu.MatmulShape(B*st.Rows, st.N, st.K, e.dtype(si.In), e.dtype(si.Out), gpuEpilogue(st.Epilogue))
	case *deit.Attention:
		s = gpu.AttentionShape(B, st.T, st.Heads, st.HeadDim, e.dtype(si.In))
	default:
		return gpu.Shape{}, false
	}
	s.Description = fmt.Sprintf("%s at batch %d", si.Name, B)
	return s, true
}

// TuneShapes are the distinct matmul and attention shapes of the engine's
// plan at each batch size, at its precision, in plan order.
func (e *GPU) TuneShapes(batches []int) []gpu.Shape {
	var out []gpu.Shape
	seen := map[string]bool{}
	for _, B := range batches {
		for i := range e.plan.Steps {
			if s, ok := e.stepShape(i, B); ok && !seen[s.Key()] {
				seen[s.Key()] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// Tune measures the engine's shapes at the given batch sizes on its device
// (gpu.Tune: shapes the device's tuning already has are taken from it
// unless opts.Force) and switches the engine to the result; the recorded
// sequences are dropped so that the next call records the tuned kernels.
// Saving the tuning (gpu.SaveTuning) is the caller's choice. When ctx ends
// first, the engine runs what was completed, which is returned with the
// error.
func (e *GPU) Tune(ctx context.Context, batches []int, opts gpu.TuneOptions) ([]gpu.ShapeResult, *gpu.Tuning, error) {
	for _, B := range batches {
		if err := checkBatch(B, e.maxBatch); err != nil {
			return nil, nil, fmt.Errorf("engine: gpu: tune: %w", err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, nil, errGPUClosed
	}
	res, t, tuneErr := gpu.Tune(ctx, e.dev, e.TuneShapes(batches), opts)
	if t == nil {
		return nil, nil, fmt.Errorf("engine: gpu: %w", tuneErr)
	}
	ops, err := gpu.NewOps(e.dev)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: gpu: %w", err)
	}
	for k, s := range e.seqs {
		s.Close()
		delete(e.seqs, k)
	}
	e.ops = ops
	if tuneErr != nil {
		return res, t, fmt.Errorf("engine: gpu: %w", tuneErr)
	}
	return res, t, nil
}

// KernelConfigs lists the configuration of every matmul and attention step
// at batch B, and whether it comes from the device's tuning.
func (e *GPU) KernelConfigs(B int) ([]KernelChoice, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []KernelChoice
	for i := range e.plan.Steps {
		s, ok := e.stepShape(i, B)
		if !ok {
			continue
		}
		var c gpu.KernelConfig
		var tuned bool
		var err error
		if s.Op == gpu.OpMatmul {
			c, tuned, err = e.ops.MatmulConfig(s.M, s.N, s.K, s.In, s.Out)
		} else {
			c, tuned, err = e.ops.AttentionConfig(s.B, s.T, s.H, s.Dh, s.In)
		}
		if err != nil {
			return nil, fmt.Errorf("engine: gpu: %s: %w", e.plan.Steps[i].Info().Name, err)
		}
		out = append(out, KernelChoice{Step: e.plan.Steps[i].Info().Name, Shape: s.Key(), Config: c.String(), Tuned: tuned})
	}
	return out, nil
}

// TunedBatches are the batch sizes up to MaxBatch at which the device's
// tuning has every matmul and attention shape of the plan.
func (e *GPU) TunedBatches() []int {
	t := e.dev.Tuning()
	cand := map[int]bool{}
	for _, ent := range t.Entries {
		// Candidate batch sizes: those an entry's shape could come from.
		for i := range e.plan.Steps {
			if s, ok := e.stepShape(i, 1); ok && s.Op == ent.Shape.Op {
				if s.Op == gpu.OpAttention {
					cand[ent.Shape.B] = true
				} else if s.M > 0 && ent.Shape.M%s.M == 0 {
					cand[ent.Shape.M/s.M] = true
				}
			}
		}
	}
	var out []int
	for B := range cand {
		if B < 1 || B > e.maxBatch {
			continue
		}
		all := true
		for i := range e.plan.Steps {
			if s, ok := e.stepShape(i, B); ok && !t.Has(s) {
				all = false
				break
			}
		}
		if all {
			out = append(out, B)
		}
	}
	sort.Ints(out)
	return out
}

// Notes says, in one line, which kernel configurations the engine runs:
// tuned ones (for which batch sizes) or the built-in heuristics, with a
// hint to run `vkdeit tune`, and why a tuning file was ignored.
func (e *GPU) Notes() []string {
	note := e.dev.TuningNote()
	if bs := e.TunedBatches(); len(bs) > 0 {
		return []string{fmt.Sprintf("kernels tuned for batch %v on this device (%s)", bs, note)}
	}
	return []string{fmt.Sprintf("kernels use the built-in heuristics (%s); `vkdeit tune` measures the fastest for this device", note)}
}
