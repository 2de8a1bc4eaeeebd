package gpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/vkdeit/vkdeit/internal/ref"
)

// TuneOptions configure Tune.
type TuneOptions struct {
	// Runs is the number of timed runs of each candidate, after Warmup
	// untimed ones, in one recorded sequence; its time is their median
	// (GPU timestamps; wall clock over the runs where the device has none).
	// Defaults: 5 and 2.
	Runs, Warmup int
	// MaxCandidates bounds the candidates measured per shape after pruning
	// (0: all): the heuristic's configuration and then the first ones in
	// the enumeration order (tests keep lavapipe runs short with it).
	MaxCandidates int
	// Force measures shapes the device's tuning already has.
	Force bool
	// Progress, when set, is called after each candidate.
	Progress func(TuneProgress)
}

// TuneProgress is where a Tune call stands.
type TuneProgress struct {
	Shape      int // index of the shape being measured
	Shapes     int
	Done       int // candidates measured so far, over all shapes
	Total      int // candidates to measure over all shapes (known up front)
	Candidate  KernelConfig
	Failed     bool
	ShapeLabel string
}

// Candidate is one configuration the tuner tried on a shape.
type Candidate struct {
	Config KernelConfig `json:"config"`
	// Micros is the median GPU time of one run (0 when dropped).
	Micros float64 `json:"us,omitempty"`
	// RelErr is the relative L2 error against the float64 twin over the
	// checked rows; Bound is what it had to stay within.
	RelErr float64 `json:"rel_err"`
	Bound  float64 `json:"bound"`
	// Err says why the candidate was dropped (did not build, failed the
	// parity check, ...); empty for a measured candidate.
	Err string `json:"error,omitempty"`
}

// ShapeResult is what Tune did for one shape.
type ShapeResult struct {
	Shape Shape `json:"shape"`
	// Cached: the device's tuning already had the shape, nothing was
	// measured (Entry is the cached one).
	Cached bool `json:"cached"`
	// Candidates in the order measured; the heuristic's configuration is
	// the first. Pruned counts the enumerated ones dropped before
	// measuring (shared memory, invocations, tile waste, MaxCandidates).
	Candidates []Candidate `json:"candidates,omitempty"`
	Pruned     int         `json:"pruned,omitempty"`
	Entry      TuneEntry   `json:"entry"`
}

// Speedup is the heuristic's time over the winner's (1 when the heuristic
// won; 0 when unknown).
func (r ShapeResult) Speedup() float64 {
	if r.Entry.Micros <= 0 {
		return 0
	}
	return r.Entry.HeuristicMicros / r.Entry.Micros
}

// Tune measures, for every shape the device's tuning does not have yet
// (all of them with Force), every candidate configuration that survives
// pruning: each is built, run once on random data and checked against the
// float64 twin of internal/ref on that shape (a candidate that fails is
// dropped and reported, never chosen), then timed, and the fastest is kept.
// It returns the per-shape results and the new entries as a Tuning, which
// it also adds to the device (SetTuning) so that Ops made afterwards use
// them; saving them is the caller's choice (SaveTuning). When ctx ends
// first, the shapes completed so far are returned (and added) with the
// error, so that a bounded run keeps what it measured.
func Tune(ctx context.Context, d *Device, shapes []Shape, opts TuneOptions) ([]ShapeResult, *Tuning, error) {
	if opts.Runs <= 0 {
		opts.Runs = 5
	}
	if opts.Warmup < 0 {
		opts.Warmup = 0
	} else if opts.Warmup == 0 {
		opts.Warmup = 2
	}
	base, err := NewOps(d)
	if err != nil {
		return nil, nil, fmt.Errorf("gpu: tune: %w", err)
	}
	base.tuned = nil // the heuristic
	have := d.Tuning()
	results := make([]ShapeResult, len(shapes))
	plans := make([][]KernelConfig, len(shapes))
	total := 0
	seen := map[string]int{}
	for i, s := range shapes {
		if err := s.check(); err != nil {
			return nil, nil, err
		}
		results[i].Shape = s
		if _, dup := seen[s.Key()]; dup {
			continue
		}
		seen[s.Key()] = i
		if !opts.Force && have.Has(s) {
			results[i].Cached, results[i].Entry = true, have.Entries[s.Key()]
			continue
		}
		cands, pruned, err := base.candidates(s)
		if err != nil {
			return nil, nil, fmt.Errorf("gpu: tune: %s: %w", s.Key(), err)
		}
		if opts.MaxCandidates > 0 && len(cands) > opts.MaxCandidates {
			pruned += len(cands) - opts.MaxCandidates
			cands = cands[:opts.MaxCandidates]
		}
		plans[i], results[i].Pruned = cands, pruned
		total += len(cands)
	}
	out := &Tuning{Entries: map[string]TuneEntry{}}
	done := 0
	for i, s := range shapes {
		if plans[i] == nil {
			if j := seen[s.Key()]; j != i {
				results[i] = results[j]
			}
			continue
		}
		var err error
		pr := results[i].Pruned
		results[i], err = base.tuneShape(ctx, s, plans[i], opts, func(c Candidate) {
			done++
			if opts.Progress != nil {
				opts.Progress(TuneProgress{Shape: i, Shapes: len(shapes), Done: done, Total: total,
					Candidate: c.Config, Failed: c.Err != "", ShapeLabel: shapeLabel(s)})
			}
		})
		results[i].Pruned = pr
		if err != nil {
			if ctx.Err() != nil {
				// Out of time: keep what is complete.
				d.SetTuning(out)
				return results[:i], out, fmt.Errorf("gpu: tune: stopped at %s (%d of %d shapes done): %w", s.Key(), i, len(shapes), err)
			}
			return nil, nil, fmt.Errorf("gpu: tune: %s: %w", s.Key(), err)
		}
		out.Entries[s.Key()] = results[i].Entry
	}
	d.SetTuning(out)
	return results, out, nil
}

// shapeLabel is the shape's description, or its key.
func shapeLabel(s Shape) string {
	if s.Description != "" {
		return s.Description
	}
	return s.Key()
}

// tuneShape measures the candidates cands of shape s (cands[0] is the
// heuristic's) and picks the fastest that passed.
func (o *Ops) tuneShape(ctx context.Context, s Shape, cands []KernelConfig, opts TuneOptions, report func(Candidate)) (ShapeResult, error) {
	r := ShapeResult{Shape: s}
	bench, err := o.newTuneBench(s)
	if err != nil {
		return r, err
	}
	defer bench.free()
	best := -1
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		cand := Candidate{Config: c}
		var err error
		cand.RelErr, cand.Bound, err = bench.check(ctx, o.withConfig(c))
		if err == nil && cand.RelErr > cand.Bound {
			err = fmt.Errorf("relative error %.3g exceeds the bound %.3g", cand.RelErr, cand.Bound)
		}
		if err == nil {
			cand.Micros, err = bench.time(ctx, o.withConfig(c), opts.Warmup, opts.Runs)
		}
		if err != nil {
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			cand.Err, cand.Micros = err.Error(), 0
		}
		r.Candidates = append(r.Candidates, cand)
		if cand.Err == "" && (best < 0 || cand.Micros < r.Candidates[best].Micros) {
			best = len(r.Candidates) - 1
		}
		report(cand)
	}
	if best < 0 {
		return r, fmt.Errorf("every candidate failed; the first: %s", r.Candidates[0].Err)
	}
	h := r.Candidates[0]
	r.Entry = TuneEntry{Shape: s, Config: r.Candidates[best].Config, Micros: r.Candidates[best].Micros,
		Heuristic: h.Config, HeuristicMicros: h.Micros}
	return r, nil
}

// tuneBench holds a shape's random inputs on the device, its output buffer
// and the float64 twin's result on the rows the parity check reads.
type tuneBench struct {
	o     *Ops
	s     Shape
	bufs  []*Buffer
	args  []Arg // matmul: C, A, W, bias, R; attention: out, qkv
	rows  []int // output rows checked
	want  [][]float64
	cols  int // output columns
	bound func(c KernelConfig) float64
}

// tuneAmp is the range of the random inputs, [−1, 1].
const tuneAmp = 1.0

// checkRows is how many output rows the parity check compares (spread over
// the matrix, first and last included): the twin costs rows·N·K float64
// operations, so that checking a batch-256 fc2 stays within a second.
const checkRows = 24

// newTuneBench uploads random inputs for s (rounded to fp16 for fp16
// shapes, so that the twin computes from the values the kernel reads) and
// computes the twin on the rows the check reads.
func (o *Ops) newTuneBench(s Shape) (*tuneBench, error) {
	b := &tuneBench{o: o, s: s}
	rng := rand.New(rand.NewPCG(uint64(len(s.Key())), 0x7475_6e65))
	random := func(n int, t DType) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(tuneAmp * (2*rng.Float64() - 1))
		}
		if t == F16 {
			x = FromHalf(ToHalf(x))
		}
		return x
	}
	put := func(x []float32, t DType) (Arg, error) {
		buf, err := o.d.NewBuffer(int64(len(x)) * t.Size())
		if err != nil {
			return Arg{}, err
		}
		b.bufs = append(b.bufs, buf)
		if t == F16 {
			err = o.d.WriteHalf(buf, 0, ToHalf(x))
		} else {
			err = o.d.Write(buf, 0, x)
		}
		return R(buf).As(t), err
	}
	fail := func(err error) (*tuneBench, error) {
		b.free()
		return nil, fmt.Errorf("inputs: %w", err)
	}
	switch s.Op {
	case OpMatmul:
		M, N, K := s.M, s.N, s.K
		a, w, bias := random(M*K, s.In), random(K*N, s.In), random(N, F32)
		var r []float32
		if s.Epilogue == EpilogueResidual {
			r = random(M*N, F32)
		}
		c, err := put(make([]float32, M*N), s.Out)
		if err != nil {
			return fail(err)
		}
		aa, err := put(a, s.In)
		if err != nil {
			return fail(err)
		}
		wa, err := put(w, s.In)
		if err != nil {
			return fail(err)
		}
		ba, err := put(bias, F32)
		if err != nil {
			return fail(err)
		}
		ra := Arg{}
		if r != nil {
			if ra, err = put(r, F32); err != nil {
				return fail(err)
			}
		}
		b.args = []Arg{W(c.Buf).As(s.Out), aa, wa, ba, ra}
		b.rows, b.cols = spreadRows(M), N
		for _, m := range b.rows {
			var rr []float32
			if r != nil {
				rr = r[m*N : (m+1)*N]
			}
			b.want = append(b.want, ref.Matmul(a[m*K:(m+1)*K], w, bias, rr, 1, N, K, ref.Epilogue(s.Epilogue)))
		}
		b.bound = func(c KernelConfig) float64 { return matmulParityBound(K, s.Out, c.Design == DesignCoopMat) }
	case OpAttention:
		B, T, H, Dh := s.B, s.T, s.H, s.Dh
		D := H * Dh
		qkv := random(B*T*3*D, s.In)
		out, err := put(make([]float32, B*T*D), s.In)
		if err != nil {
			return fail(err)
		}
		qa, err := put(qkv, s.In)
		if err != nil {
			return fail(err)
		}
		b.args = []Arg{W(out.Buf).As(s.In), qa}
		b.cols = D
		// Whole images: the first and the last.
		for _, img := range slices.Compact([]int{0, B - 1}) {
			x := qkv[img*T*3*D : (img+1)*T*3*D]
			want := ref.Attention(x, x[D:], x[2*D:], 3*D, 1, T, H, Dh, 1/math.Sqrt(float64(Dh)))
			for t := range T {
				b.rows = append(b.rows, img*T+t)
				b.want = append(b.want, want[t*D:(t+1)*D])
			}
		}
		b.bound = func(c KernelConfig) float64 {
			return attentionParityBound(Dh, T, tuneAmp, s.In == F16, c.Design == DesignCoopMat)
		}
	}
	return b, nil
}

// spreadRows picks up to checkRows rows of M: the first, the last and
// evenly spaced ones between (tile edges fall among them for any tile).
func spreadRows(M int) []int {
	if M <= checkRows {
		rows := make([]int, M)
		for i := range rows {
			rows[i] = i
		}
		return rows
	}
	rows := make([]int, 0, checkRows)
	for i := range checkRows {
		rows = append(rows, i*(M-1)/(checkRows-1))
	}
	return slices.Compact(rows)
}

func (b *tuneBench) free() {
	for _, buf := range b.bufs {
		buf.Free()
	}
	b.bufs = nil
}

// record appends one run of the shape with o's configuration to seq.
func (b *tuneBench) record(o *Ops, seq *Sequence) error {
	s, a := b.s, b.args
	if s.Op == OpMatmul {
		return o.Matmul(seq, a[0], a[1], a[2], a[3], a[4], s.M, s.N, s.K, s.Epilogue)
	}
	return o.Attention(seq, a[0], a[1], s.B, s.T, s.H, s.Dh, float32(1/math.Sqrt(float64(s.Dh))))
}

// check runs the shape once with o's configuration on an output poisoned
// with NaN (an element the kernel leaves unwritten fails) and returns the
// relative L2 error of the checked rows against the twin, and the bound.
func (b *tuneBench) check(ctx context.Context, o *Ops) (float64, float64, error) {
	out, t := b.args[0].Buf, b.args[0].Type
	n := int(out.Size() / t.Size())
	if t == F16 {
		nan := make([]uint16, n)
		for i := range nan {
			nan[i] = 0x7e00
		}
		if err := o.d.WriteHalf(out, 0, nan); err != nil {
			return 0, 0, err
		}
	} else {
		nan := make([]float32, n)
		for i := range nan {
			nan[i] = float32(math.NaN())
		}
		if err := o.d.Write(out, 0, nan); err != nil {
			return 0, 0, err
		}
	}
	seq, err := o.d.NewSequence(false)
	if err != nil {
		return 0, 0, err
	}
	defer seq.Close()
	if err := b.record(o, seq); err != nil {
		return 0, 0, err
	}
	if err := seq.Finish(); err != nil {
		return 0, 0, err
	}
	if err := seq.Run(ctx); err != nil {
		return 0, 0, err
	}
	cfg, _, err := b.config(o)
	if err != nil {
		return 0, 0, err
	}
	var num, den float64
	got := make([]float32, b.cols)
	half := make([]uint16, b.cols)
	for i, row := range b.rows {
		off := int64(row) * int64(b.cols) * t.Size()
		if t == F16 {
			err = o.d.ReadHalf(out, off, half)
			copy(got, FromHalf(half))
		} else {
			err = o.d.Read(out, off, got)
		}
		if err != nil {
			return 0, 0, err
		}
		for j, g := range got {
			if math.IsNaN(float64(g)) {
				return 0, 0, fmt.Errorf("row %d column %d was not written (NaN)", row, j)
			}
			d := float64(g) - b.want[i][j]
			num += d * d
			den += b.want[i][j] * b.want[i][j]
		}
	}
	rel := math.Sqrt(num)
	if den > 0 {
		rel = math.Sqrt(num / den)
	}
	return rel, b.bound(cfg), nil
}

// config is the configuration o runs the shape with.
func (b *tuneBench) config(o *Ops) (KernelConfig, bool, error) {
	if b.s.Op == OpMatmul {
		return o.matmulConfig(b.s)
	}
	return o.attentionConfig(b.s)
}

// time records warmup + runs runs of the shape in one sequence with a
// timestamp around each, runs it once and returns the median of the timed
// dispatches (after the warm-up ones) in µs. Without timestamps it times
// the whole run on the wall clock.
func (b *tuneBench) time(ctx context.Context, o *Ops, warmup, runs int) (float64, error) {
	stamped := o.d.info.Timestamps
	seq, err := o.d.NewSequence(stamped)
	if err != nil {
		return 0, err
	}
	defer seq.Close()
	for range warmup + runs {
		if err := b.record(o, seq); err != nil {
			return 0, err
		}
	}
	if err := seq.Finish(); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := seq.Run(ctx); err != nil {
		return 0, err
	}
	wall := time.Since(start)
	if !stamped {
		return float64(wall.Microseconds()) / float64(warmup+runs), nil
	}
	ts, err := seq.Timings()
	if err != nil {
		return 0, err
	}
	if len(ts) != warmup+runs {
		return 0, errors.New("timestamps missing")
	}
	us := make([]float64, 0, runs)
	for _, t := range ts[warmup:] {
		us = append(us, t.Nanos/1e3)
	}
	sort.Float64s(us)
	return us[len(us)/2], nil
}
