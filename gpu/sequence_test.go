package gpu_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// TestChainReplay records 8 dependent dispatches (y = x + 1 through
// ping-pong buffers) and replays them, poisoning the intermediate buffers
// with NaN before every run so a skipped or stale dispatch fails.
func TestChainReplay(t *testing.T) {
	tests := []struct {
		name    string
		opts    gpu.Options
		n, runs int
	}{
		{"unified", gpu.Options{}, 4099, 1000},
		{"staging", gpu.Staging(gpu.Options{}), 1001, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := gputest.OpenOptions(t, tc.opts)
			if tc.name == "staging" {
				require.False(t, d.Info().Unified)
			}
			n := tc.n
			x := rtRandom(t, 1, n)
			src := rtBuffer(t, d, x)
			a := rtBuffer(t, d, rtNaNs(n))
			b := rtBuffer(t, d, rtNaNs(n))
			if d.Info().Unified {
				require.NotNil(t, a.Mapped())
			} else {
				require.Nil(t, a.Mapped())
			}
			p, err := d.Pipeline(rtAdd)
			require.NoError(t, err)
			s, err := d.NewSequence(false)
			require.NoError(t, err)
			defer s.Close()
			in, out := src, a
			const steps = 8
			for i := 0; i < steps; i++ {
				require.NoError(t, s.Dispatch("add", p, rtGroups(n), gpu.Push(n, float32(1)), gpu.R(in), gpu.W(out)))
				in = out
				if out == a {
					out = b
				} else {
					out = a
				}
			}
			require.Equal(t, steps-1, s.Barriers(), "every step depends on the previous one")
			require.NoError(t, s.Finish())
			want := make([]float32, n)
			for i := range want {
				v := x[i]
				for j := 0; j < steps; j++ {
					v += 1
				}
				want[i] = v
			}
			poison := rtNaNs(n)
			got := make([]float32, n)
			for run := 0; run < tc.runs; run++ {
				require.NoError(t, d.Write(a, 0, poison))
				require.NoError(t, d.Write(b, 0, poison))
				require.NoError(t, s.Run(context.Background()))
				require.NoError(t, d.Read(in, 0, got))
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("run %d: element %d = %v, want %v", run, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// TestHazards counts the barriers recording inserts: none between
// independent dispatches, one at each read-after-write, write-after-write
// and write-after-read. Running every case under synchronization
// validation checks that no needed barrier is missing.
func TestHazards(t *testing.T) {
	d := gputest.Open(t)
	p, err := d.Pipeline(rtAdd)
	require.NoError(t, err)
	inc, err := d.Pipeline(rtInc)
	require.NoError(t, err)
	const n = 1024
	half := int64(4 * n / 2)
	require.Zero(t, half%d.StorageAlign())
	buf := func() *gpu.Buffer { return rtBuffer(t, d, rtRandom(t, 2, n)) }
	x, y, z, w := buf(), buf(), buf(), buf()
	add := func(s *gpu.Sequence, in, out gpu.Arg) error {
		m := int((out.Size + 3) / 4)
		if out.Size == 0 {
			m = n
		}
		return s.Dispatch("add", p, rtGroups(m), gpu.Push(m, float32(1)), in, out)
	}
	tests := []struct {
		name     string
		record   func(s *gpu.Sequence) error
		barriers int
	}{
		{"independent", func(s *gpu.Sequence) error {
			return firstErr(add(s, gpu.R(x), gpu.W(y)), add(s, gpu.R(x), gpu.W(z)), add(s, gpu.R(x), gpu.W(w)))
		}, 0},
		{"read after write", func(s *gpu.Sequence) error {
			return firstErr(add(s, gpu.R(x), gpu.W(y)), add(s, gpu.R(y), gpu.W(z)))
		}, 1},
		{"write after write", func(s *gpu.Sequence) error {
			return firstErr(add(s, gpu.R(x), gpu.W(y)), add(s, gpu.R(z), gpu.W(y)))
		}, 1},
		{"write after read", func(s *gpu.Sequence) error {
			return firstErr(add(s, gpu.R(x), gpu.W(y)), add(s, gpu.R(z), gpu.W(x)))
		}, 1},
		{"disjoint halves then whole", func(s *gpu.Sequence) error {
			return firstErr(
				add(s, gpu.R(x).Range(0, half), gpu.W(y).Range(0, half)),
				add(s, gpu.R(x).Range(half, half), gpu.W(y).Range(half, half)),
				add(s, gpu.R(y), gpu.W(z)))
		}, 1},
		{"barrier resets tracking", func(s *gpu.Sequence) error {
			return firstErr(add(s, gpu.R(x), gpu.W(y)), add(s, gpu.R(y), gpu.W(z)), add(s, gpu.R(y), gpu.W(w)))
		}, 1},
		{"read-write binding passed as read", func(s *gpu.Sequence) error {
			return firstErr(
				s.Dispatch("inc", inc, rtGroups(n), gpu.Push(n, float32(1)), gpu.R(x)),
				s.Dispatch("inc", inc, rtGroups(n), gpu.Push(n, float32(1)), gpu.R(x)))
		}, 1},
		{"copies", func(s *gpu.Sequence) error {
			return firstErr(s.Copy(gpu.W(y), gpu.R(x)), s.Copy(gpu.W(w), gpu.R(z)), add(s, gpu.R(y), gpu.W(z)))
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := d.NewSequence(false)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, tc.record(s))
			require.Equal(t, tc.barriers, s.Barriers())
			require.NoError(t, s.Finish())
			require.NoError(t, s.Run(context.Background()))
			require.NoError(t, s.Run(context.Background()))
		})
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestCopy(t *testing.T) {
	for _, staging := range []bool{false, true} {
		opts := gpu.Options{}
		if staging {
			opts = gpu.Staging(opts)
		}
		d := gputest.OpenOptions(t, opts)
		const n = 3001
		x := rtRandom(t, 3, n)
		src := rtBuffer(t, d, x)
		dst := rtBuffer(t, d, rtNaNs(n))
		host, err := d.NewStagingBuffer(4 * n)
		require.NoError(t, err)
		require.NotNil(t, host.Mapped())
		s, err := d.NewSequence(false)
		require.NoError(t, err)
		// Whole copy, then a sub-range at an unaligned offset, then to host.
		require.NoError(t, s.Copy(gpu.W(dst), gpu.R(src)))
		require.NoError(t, s.Copy(gpu.W(dst).Range(4*7, 4*10), gpu.R(src).Range(4*100, 4*10)))
		require.NoError(t, s.Copy(gpu.W(host), gpu.R(dst)))
		require.Equal(t, 2, s.Barriers())
		require.ErrorContains(t, s.Copy(gpu.W(dst).Range(0, 8), gpu.R(src)), "smaller")
		require.ErrorContains(t, s.Copy(gpu.W(dst).Range(8, 16), gpu.R(dst).Range(0, 16)), "overlap")
		require.NoError(t, s.Finish())
		require.NoError(t, s.Run(context.Background()))
		want := append([]float32(nil), x...)
		copy(want[7:17], x[100:110])
		require.Equal(t, want, rtRead(t, d, dst, n))
		require.Equal(t, want, rtRead(t, d, host, n))
		s.Close()
	}
}

func TestTimings(t *testing.T) {
	d := gputest.Open(t)
	if !d.Info().Timestamps {
		t.Skip("device has no timestamps")
	}
	const n = 1 << 16
	p, err := d.Pipeline(rtAdd)
	require.NoError(t, err)
	x := rtBuffer(t, d, rtRandom(t, 4, n))
	y := rtBuffer(t, d, rtNaNs(n))
	s, err := d.NewSequence(true)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Timings()
	require.ErrorContains(t, err, "has not run")
	labels := []string{"first", "second", "third"}
	for i, l := range labels {
		in, out := x, y
		if i%2 == 1 {
			in, out = y, x
		}
		require.NoError(t, s.Dispatch(l, p, rtGroups(n), gpu.Push(n, float32(1)), gpu.R(in), gpu.W(out)))
	}
	require.NoError(t, s.Finish())
	for run := 0; run < 2; run++ {
		require.NoError(t, s.Run(context.Background()))
		ts, err := s.Timings()
		require.NoError(t, err)
		require.Len(t, ts, len(labels))
		for i, tm := range ts {
			t.Logf("run %d: %s %.0f ns", run, tm.Label, tm.Nanos)
			require.Equal(t, labels[i], tm.Label)
			require.Greater(t, tm.Nanos, 0.0)
			require.False(t, math.IsInf(tm.Nanos, 0) || math.IsNaN(tm.Nanos))
		}
	}

	plain, err := d.NewSequence(false)
	require.NoError(t, err)
	defer plain.Close()
	require.NoError(t, plain.Finish())
	require.NoError(t, plain.Run(context.Background()))
	_, err = plain.Timings()
	require.ErrorContains(t, err, "without timestamps")
}

// rtIncs returns a zeroed buffer of n floats and a finished sequence (with
// timestamps where the device has them) of k dispatches that each add 1 to
// every element. The sequence is closed when the test ends.
func rtIncs(t *testing.T, d *gpu.Device, n, k int) (*gpu.Buffer, *gpu.Sequence) {
	t.Helper()
	p, err := d.Pipeline(rtInc)
	require.NoError(t, err)
	x := rtBuffer(t, d, make([]float32, n))
	s, err := d.NewSequence(d.Info().Timestamps)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	for i := 0; i < k; i++ {
		require.NoError(t, s.Dispatch("inc", p, rtGroups(n), gpu.Push(n, float32(1)), gpu.W(x)))
	}
	require.NoError(t, s.Finish())
	return x, s
}

// TestManyDispatches records more dispatches than one descriptor pool and
// one query pool hold, and checks that replays allocate nothing new.
func TestManyDispatches(t *testing.T) {
	d := gputest.Open(t)
	const n, k = 64, 600
	x, s := rtIncs(t, d, n, k)
	pools := s.DescriptorPools()
	require.Equal(t, 4, pools, "64+128+256+512 sets cover 600 dispatches")
	for run := 1; run <= 3; run++ {
		require.NoError(t, s.Run(context.Background()))
		require.Equal(t, pools, s.DescriptorPools())
		got := rtRead(t, d, x, n)
		for i := range got {
			require.Equal(t, float32(run*k), got[i])
		}
	}
	if d.Info().Timestamps {
		ts, err := s.Timings()
		require.NoError(t, err)
		require.Len(t, ts, k)
	}
}

func TestRunCancelled(t *testing.T) {
	d := gputest.Open(t)
	p, err := d.Pipeline(rtInc)
	require.NoError(t, err)
	x := rtBuffer(t, d, make([]float32, 256))
	s, err := d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Dispatch("inc", p, rtGroups(256), gpu.Push(256, float32(2)), gpu.W(x)))
	require.NoError(t, s.Finish())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Run(ctx), context.Canceled)
	require.Equal(t, float32(0), rtRead(t, d, x, 1)[0], "a cancelled run must not be submitted")
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, s.Run(ctx))
	require.Equal(t, float32(2), rtRead(t, d, x, 1)[0])
}

func TestSpecializationAndCache(t *testing.T) {
	d := gputest.Open(t)
	p1, err := d.Pipeline(rtAdd)
	require.NoError(t, err)
	p1b, err := d.Pipeline(rtAdd)
	require.NoError(t, err)
	require.Same(t, p1, p1b, "same kernel and constants: cached")
	p3, err := d.Pipeline(rtAdd, math.Float32bits(3))
	require.NoError(t, err)
	require.NotSame(t, p1, p3)
	p3b, err := d.Pipeline(rtAdd, math.Float32bits(3))
	require.NoError(t, err)
	require.Same(t, p3, p3b)

	const n = 100
	x := rtRandom(t, 5, n)
	in := rtBuffer(t, d, x)
	out := rtBuffer(t, d, rtNaNs(n))
	s, err := d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Dispatch("add3", p3, rtGroups(n), gpu.Push(n, float32(0.5)), gpu.R(in), gpu.W(out)))
	require.NoError(t, s.Finish())
	require.NoError(t, s.Run(context.Background()))
	got := rtRead(t, d, out, n)
	for i := range got {
		require.Equal(t, x[i]*3+0.5, got[i], "element %d", i)
	}
}

// TestConcurrentSequences runs sequences from several goroutines on one
// device, each with its own buffers, creating pipelines and buffers
// concurrently too.
func TestConcurrentSequences(t *testing.T) {
	for _, opts := range []gpu.Options{{}, gpu.Staging(gpu.Options{})} {
		d := gputest.OpenOptions(t, opts)
		const workers, runs, n = 4, 20, 513
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			go func(w int) {
				errs <- func() error {
					p, err := d.Pipeline(rtInc)
					if err != nil {
						return err
					}
					x, err := d.NewBuffer(4 * n)
					if err != nil {
						return err
					}
					if err := d.Write(x, 0, make([]float32, n)); err != nil {
						return err
					}
					s, err := d.NewSequence(false)
					if err != nil {
						return err
					}
					defer s.Close()
					if err := s.Dispatch("inc", p, rtGroups(n), gpu.Push(n, float32(w+1)), gpu.W(x)); err != nil {
						return err
					}
					if err := s.Finish(); err != nil {
						return err
					}
					got := make([]float32, n)
					for r := 1; r <= runs; r++ {
						if err := s.Run(context.Background()); err != nil {
							return err
						}
						if err := d.Read(x, 0, got); err != nil {
							return err
						}
						for i, v := range got {
							if want := float32(r * (w + 1)); v != want {
								return fmt.Errorf("worker %d run %d: element %d = %v, want %v", w, r, i, v, want)
							}
						}
					}
					return nil
				}()
			}(w)
		}
		for w := 0; w < workers; w++ {
			require.NoError(t, <-errs)
		}
	}
}

// BenchmarkRun measures the fixed cost of replaying a recorded sequence
// (one submit and fence wait) with 1 and 64 small dispatches.
func BenchmarkRun(b *testing.B) {
	for _, k := range []int{1, 64} {
		b.Run(fmt.Sprintf("dispatches=%d", k), func(b *testing.B) {
			// No validation layer: it would dominate the time measured.
			d, err := gpu.Open(gpu.Options{Log: io.Discard})
			if err != nil {
				if errors.Is(err, gpu.ErrNoDevice) && os.Getenv("CI") == "" {
					b.Skip(err)
				}
				b.Fatal(err)
			}
			defer d.Close()
			p, err := d.Pipeline(rtInc)
			require.NoError(b, err)
			x := rtBuffer(b, d, make([]float32, 64))
			s, err := d.NewSequence(false)
			require.NoError(b, err)
			defer s.Close()
			for i := 0; i < k; i++ {
				require.NoError(b, s.Dispatch("inc", p, rtGroups(64), gpu.Push(64, float32(1)), gpu.W(x)))
			}
			require.NoError(b, s.Finish())
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Run(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// rtCancelAfterSubmit is a context that is live when Run checks it before
// submitting and cancelled at every later check.
type rtCancelAfterSubmit struct {
	context.Context
	calls int
}

func (c *rtCancelAfterSubmit) Err() error {
	c.calls++
	if c.calls > 1 {
		return context.Canceled
	}
	return nil
}

// TestRunCancelledInFlight cancels a run while the GPU works on it: Run may
// return early, but the submission still completes exactly once and the
// sequence stays usable.
func TestRunCancelledInFlight(t *testing.T) {
	d := gputest.Open(t)
	const n, k = 4096, 300
	x, s := rtIncs(t, d, n, k)
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := s.Run(&rtCancelAfterSubmit{Context: parent})
	if err != nil {
		require.ErrorIs(t, err, context.Canceled)
		t.Log("Run returned before the GPU finished")
	}
	require.NoError(t, s.Run(context.Background()))
	got := rtRead(t, d, x, n)
	for i := range got {
		require.Equal(t, float32(2*k), got[i], "element %d", i)
	}
	if d.Info().Timestamps {
		ts, err := s.Timings()
		require.NoError(t, err)
		require.Len(t, ts, k)
	}
}

// TestSubmitWait submits two dependent sequences back to back without
// waiting in between: the second must see the first's results (queue order
// plus each sequence's leading barrier), and Wait must be idempotent.
func TestSubmitWait(t *testing.T) {
	d := gputest.Open(t)
	const n = 256
	x := rtRandom(t, 21, n)
	xb, yb, zb := rtBuffer(t, d, x), rtBuffer(t, d, rtNaNs(n)), rtBuffer(t, d, rtNaNs(n))
	p, err := d.Pipeline(rtAdd)
	require.NoError(t, err)
	seq := func(in, out *gpu.Buffer, add float32) *gpu.Sequence {
		s, err := d.NewSequence(false)
		require.NoError(t, err)
		t.Cleanup(s.Close)
		require.NoError(t, s.Dispatch("add", p, rtGroups(n), gpu.Push(n, add), gpu.R(in), gpu.W(out)))
		require.NoError(t, s.Finish())
		return s
	}
	a, b := seq(xb, yb, 1), seq(yb, zb, 2)
	ctx := context.Background()
	require.NoError(t, a.Wait(ctx), "nothing submitted yet")
	for round := 0; round < 3; round++ {
		require.NoError(t, a.Submit())
		require.NoError(t, b.Submit())
		require.NoError(t, b.Wait(ctx))
		require.NoError(t, a.Wait(ctx))
		require.NoError(t, a.Wait(ctx))
		got := rtRead(t, d, zb, n)
		for i := range got {
			require.Equal(t, x[i]+1+2, got[i], "element %d, round %d", i, round)
		}
	}
	open, err := d.NewSequence(false)
	require.NoError(t, err)
	defer open.Close()
	require.ErrorContains(t, open.Submit(), "gpu: Submit: sequence not finished")
	open.Close()
	require.ErrorContains(t, open.Wait(ctx), "closed")
}
