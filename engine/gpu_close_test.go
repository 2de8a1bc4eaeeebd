package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/internal/fixture/fixturemodel"
)

// TestGPUDeviceClosedDuringForward closes the device under engines
// whose Forward runs on other goroutines: Close waits for the forward in
// flight, every later Forward fails with an error wrapping gpu.ErrClosed,
// and closing the engines afterwards is harmless (run with -race).
func TestGPUDeviceClosedDuringForward(t *testing.T) {
	dev := gputest.Open(t)
	m, pixels, _ := fixturemodel.Load(t, fixture.Torches[0])
	var engines []*GPU
	for range 2 {
		e, err := NewGPU(dev, m, 2, GPUOptions{})
		require.NoError(t, err)
		engines = append(engines, e)
	}
	const workers = 4
	var wg sync.WaitGroup
	errs := make([]error, workers)
	ran := make(chan struct{}, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := engines[w%len(engines)]
			for i := 0; ; i++ {
				if _, err := e.Forward(context.Background(), pixels, 2); err != nil {
					errs[w] = err
					return
				}
				if i == 0 {
					ran <- struct{}{}
				}
			}
		}()
	}
	for range workers {
		<-ran
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, dev.Close())
	wg.Wait()
	for w, err := range errs {
		require.ErrorIs(t, err, gpu.ErrClosed, "worker %d", w)
		require.ErrorContains(t, err, "device is closed", "worker %d", w)
	}
	for _, e := range engines {
		_, err := e.Forward(context.Background(), pixels, 1)
		require.ErrorIs(t, err, gpu.ErrClosed, "a batch size never recorded")
		require.NoError(t, e.Close())
	}
	_, err := NewGPU(dev, m, 1, GPUOptions{})
	require.ErrorIs(t, err, gpu.ErrClosed)
}
