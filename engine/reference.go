package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/internal/ref"
)

// Reference is the float64 reference engine: it executes the plan with the
// float64 twins of package internal/ref, accumulating every dot product and
// reduction in float64 and rounding activations to float32 between steps as
// PyTorch stores them (docs/numerics.md). Every other engine is checked
// against it. It is slow; use another engine for real work.
type Reference struct {
	plan     *deit.Plan
	maxBatch int
	threads  int
	mu       sync.Mutex // the engine is stateless; this only orders Close
	closed   bool
}

// ReferenceOptions configure NewReference.
type ReferenceOptions struct {
	// Threads is reported by Name (0: GOMAXPROCS; the twins split their
	// loops over all of them).
	Threads int
	// Precision must be fp32 or auto: the reference stores fp32 and
	// accumulates in float64.
	Precision deit.Precision
}

// NewReference returns a reference engine for m accepting batches up to
// maxBatch.
func NewReference(m *deit.Model, maxBatch int, opts ReferenceOptions) (*Reference, error) {
	if maxBatch < 1 {
		return nil, fmt.Errorf("engine: reference: batch size %d, want at least 1", maxBatch)
	}
	if err := opts.Precision.Supported("reference engine", deit.FP32); err != nil {
		return nil, fmt.Errorf("engine: %w", err) // the message names the engine
	}
	plan, err := deit.NewPlan(m)
	if err != nil {
		return nil, fmt.Errorf("engine: reference: %w", err)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Reference{plan: plan, maxBatch: maxBatch, threads: threads}, nil
}

// Forward implements Engine.
func (r *Reference) Forward(ctx context.Context, pixels []float32, B int) ([]float32, error) {
	out, err := r.Run(ctx, pixels, B, 0)
	if err != nil {
		return nil, err
	}
	return out.Logits, nil
}

// Run implements Engine.
func (r *Reference) Run(ctx context.Context, pixels []float32, B int, taps deit.Tap) (*Output, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, errors.New("engine: reference: used after Close")
	}
	if err := checkBatch(B, r.maxBatch); err != nil {
		return nil, fmt.Errorf("engine: reference: %w", err)
	}
	out, err := runReference(ctx, r.plan, pixels, B, taps)
	if err != nil {
		return nil, fmt.Errorf("engine: reference: %w", err)
	}
	return out, nil
}

// RunReference runs m's plan on B images with the float64 twins, without
// an engine's batch limit, and returns the logits and the taps asked for:
// the oracle of the parity tests. ctx is checked between steps.
func RunReference(ctx context.Context, m *deit.Model, pixels []float32, B int, taps deit.Tap) (*Output, error) {
	plan, err := deit.NewPlan(m)
	if err != nil {
		return nil, fmt.Errorf("engine: reference: %w", err)
	}
	out, err := runReference(ctx, plan, pixels, B, taps)
	if err != nil {
		return nil, fmt.Errorf("engine: reference: %w", err)
	}
	return out, nil
}

// runReference executes plan. Each step makes a new slice, so the taps are
// the step outputs themselves.
func runReference(ctx context.Context, plan *deit.Plan, pixels []float32, B int, taps deit.Tap) (*Output, error) {
	if err := plan.Config.CheckPixels(pixels, B); err != nil {
		return nil, err
	}
	var vals [deit.NumValues][]float32
	vals[deit.Pixels] = pixels
	out := &Output{}
	for _, step := range plan.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		si := step.Info()
		if !si.Runs(taps) {
			continue
		}
		in := vals[si.In]
		var y []float32
		switch s := step.(type) {
		case *deit.Patchify:
			y = ref.Patchify(in, B, s.Channels, s.Size, s.Size, s.Patch)
		case *deit.Linear:
			y = referenceLinear(s, in, vals[s.Resid], B)
		case *deit.Tokens:
			y = ref.Tokens(in, s.Special, s.Pos, B, s.T, s.S, s.D)
		case *deit.LayerNorm:
			y = ref.F32(ref.LayerNorm(in, s.Gamma, s.Beta, B*s.Rows, s.D, float64(s.Eps)))
		case *deit.Attention:
			D := s.Heads * s.HeadDim
			y = ref.F32(ref.Attention(in, in[D:], in[2*D:], 3*D, B, s.T, s.Heads, s.HeadDim, s.Scale))
		case *deit.AttentionProbs:
			y = ref.F32(ref.AttentionProbs(in, B, s.T, s.Heads, s.HeadDim, s.Scale))
		case *deit.GatherRows:
			y = ref.GatherRows(in, B, s.T, s.Rows, s.D)
		default:
			return nil, fmt.Errorf("step %s: %T not supported", si.Name, step)
		}
		vals[si.Out] = y
		switch si.Tap & taps {
		case deit.TapHidden:
			out.Hidden = append(out.Hidden, y)
		case deit.TapAttention:
			out.Attention = append(out.Attention, y)
		}
	}
	out.Logits = vals[deit.Logits]
	if taps&deit.TapEmbeddings != 0 {
		out.Embeddings = vals[deit.Embeddings]
	}
	return out, nil
}

// referenceLinear is a Linear step as PyTorch computes it: the product and
// bias rounded to fp32, then the epilogue on the stored value (GELU on the
// rounded product, the residual as one fp32 add). A fused mean of parts runs
// as the parts, averaged in float64.
func referenceLinear(s *deit.Linear, in, resid []float32, B int) []float32 {
	rows := B * s.Rows
	if len(s.MeanOf) > 0 {
		n := len(s.MeanOf)
		var sum []float64
		for i, p := range s.MeanOf {
			y := ref.Linear(columns(in, rows, s.K, i*p.K, p.K), p.W, p.Bias, rows, p.K, p.N)
			if sum == nil {
				sum = y
				continue
			}
			for j := range sum {
				sum[j] += y[j]
			}
		}
		for j := range sum {
			sum[j] /= float64(n)
		}
		return ref.F32(sum)
	}
	y := ref.F32(ref.Linear(in, s.W, s.Bias, rows, s.K, s.N))
	switch s.Epilogue {
	case deit.EpilogueGELU:
		y = ref.F32(ref.GELUs(y))
	case deit.EpilogueResidual:
		for i := range y {
			y[i] += resid[i]
		}
	}
	return y
}

// columns copies columns [lo, lo+n) of a [rows, cols] matrix.
func columns(x []float32, rows, cols, lo, n int) []float32 {
	out := make([]float32, 0, rows*n)
	for r := range rows {
		out = append(out, x[r*cols+lo:r*cols+lo+n]...)
	}
	return out
}

// MaxBatch implements Engine.
func (r *Reference) MaxBatch() int { return r.maxBatch }

// Precision implements Engine: fp32 storage (with float64 accumulation).
func (r *Reference) Precision() deit.Precision { return deit.FP32 }

// Arithmetic implements Engine: float64 accumulation, float32 activations.
func (r *Reference) Arithmetic() string { return "float64" }

// Config implements Engine.
func (r *Reference) Config() deit.Config { return r.plan.Config }

// Name implements Engine.
func (r *Reference) Name() string {
	return fmt.Sprintf("reference (float64, %d threads)", r.threads)
}

// Close implements Engine; later calls fail.
func (r *Reference) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}
