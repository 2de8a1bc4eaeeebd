package gpu_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// TestCloseDuringWork closes a device while other goroutines record, run
// and close sequences and write, read, allocate and free buffers. Close must
// wait for the calls in flight, every call after it must fail with
// ErrClosed, and nothing may be destroyed twice (run it with -race; the
// validation layer reports any use of a destroyed object).
func TestCloseDuringWork(t *testing.T) {
	for _, opts := range []gpu.Options{{}, gpu.Staging(gpu.Options{})} {
		t.Run(fmt.Sprintf("staging=%v", opts.ForceStaging), func(t *testing.T) {
			d := gputest.OpenOptions(t, opts)
			p, err := d.Pipeline(rtInc)
			require.NoError(t, err)
			const workers, n = 4, 1024
			var wg sync.WaitGroup
			errs := make([]error, workers)
			started := make(chan struct{}, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[w] = func() error {
						x, err := d.NewBuffer(4 * n)
						if err != nil {
							return err
						}
						s, err := d.NewSequence(false)
						if err != nil {
							return err
						}
						defer s.Close()
						if err := s.Dispatch("inc", p, rtGroups(n), gpu.Push(n, float32(1)), gpu.W(x)); err != nil {
							return err
						}
						if err := s.Finish(); err != nil {
							return err
						}
						started <- struct{}{}
						buf := make([]float32, n)
						for i := 0; ; i++ {
							if err := d.Write(x, 0, buf); err != nil {
								return err
							}
							if err := s.Run(context.Background()); err != nil {
								return err
							}
							if err := d.Read(x, 0, buf); err != nil {
								return err
							}
							if w == 0 { // one worker also churns sequences and buffers
								s2, err := d.NewSequence(false)
								if err != nil {
									return err
								}
								err = s2.Dispatch("inc", p, rtGroups(n), gpu.Push(n, float32(1)), gpu.W(x))
								s2.Close()
								if err != nil {
									return err
								}
								b, err := d.NewBuffer(64 << 10)
								if err != nil {
									return err
								}
								b.Free()
							}
						}
					}()
				}()
			}
			for range workers {
				<-started
			}
			time.Sleep(50 * time.Millisecond)
			require.NoError(t, d.Close())
			wg.Wait()
			for w, err := range errs {
				require.ErrorIs(t, err, gpu.ErrClosed, "worker %d", w)
				require.ErrorContains(t, err, "closed", "worker %d", w)
			}
		})
	}
}

// TestCallsAfterClose checks that every call on a closed device, and on the
// sequences and buffers it made, is an error wrapping ErrClosed.
func TestCallsAfterClose(t *testing.T) {
	d := gputest.Open(t)
	p, err := d.Pipeline(rtInc)
	require.NoError(t, err)
	x := rtBuffer(t, d, make([]float32, 64))
	done, err := d.NewSequence(true)
	require.NoError(t, err)
	require.NoError(t, done.Dispatch("inc", p, rtGroups(64), gpu.Push(64, float32(1)), gpu.W(x)))
	require.NoError(t, done.Finish())
	require.NoError(t, done.Run(context.Background()))
	open, err := d.NewSequence(false)
	require.NoError(t, err)
	require.NoError(t, d.Close())

	calls := map[string]error{
		"Run":          done.Run(context.Background()),
		"Timings":      func() error { _, err := done.Timings(); return err }(),
		"dispatch inc": open.Dispatch("inc", p, rtGroups(64), gpu.Push(64, float32(1)), gpu.W(x)),
		"Copy":         open.Copy(gpu.W(x).Range(0, 64), gpu.R(x).Range(128, 64)),
		"Finish":       open.Finish(),
		"Write":        d.Write(x, 0, []float32{1}),
		"Read":         d.Read(x, 0, []float32{1}),
		"NewBuffer":    func() error { _, err := d.NewBuffer(16); return err }(),
		"NewSequence":  func() error { _, err := d.NewSequence(false); return err }(),
	}
	for name, err := range calls {
		require.ErrorIs(t, err, gpu.ErrClosed, name)
		require.ErrorContains(t, err, "gpu: "+name+": device is closed")
	}
	_, err = d.Pipeline(rtAdd)
	require.ErrorIs(t, err, gpu.ErrClosed)
	require.ErrorContains(t, err, "gpu: kernel test-add: device is closed")
	open.Close()
	done.Close()
	x.Free()
	require.NoError(t, d.Close())
}
