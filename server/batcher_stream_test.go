package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// streamEngine is a testEngine that streams (engine.Streamer): a stream
// waits at the gate like a call, then runs through inner's ForwardStream,
// or, without inner, keeps two batches in flight over Forward as the GPU
// engine does with staging slots (it asks for batch i+1 before emitting
// batch i). failAfter > 0 makes a stream fail once it has taken that many
// batches, emitting none of those in flight; failAfter < 0 makes it fail
// before it takes any.
type streamEngine struct {
	*testEngine
	inner     engine.Streamer
	failAfter int

	smu         sync.Mutex
	streamed    []int // batch sizes taken by streams
	maxInFlight int
}

func (e *streamEngine) ForwardStream(ctx context.Context, B int, next func() ([]float32, error), emit func([]float32) error) error {
	e.mu.Lock()
	gate, entered := e.gate, e.entered
	e.mu.Unlock()
	if entered != nil {
		entered <- B
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if e.failAfter < 0 {
		return errors.New("device lost before the stream")
	}
	taken := 0
	counted := func() ([]float32, error) {
		px, err := next()
		if px != nil {
			taken++
			e.smu.Lock()
			e.streamed = append(e.streamed, B)
			e.smu.Unlock()
		}
		return px, err
	}
	if e.inner != nil {
		return e.inner.ForwardStream(ctx, B, counted, emit)
	}
	var inFlight [][]float32
	for {
		px, err := counted()
		if err != nil {
			return err
		}
		if px == nil {
			break
		}
		logits, err := e.Engine.Forward(ctx, px, B)
		if err != nil {
			return err
		}
		if e.failAfter > 0 && taken >= e.failAfter {
			return errors.New("device lost mid-stream")
		}
		inFlight = append(inFlight, logits)
		e.smu.Lock()
		e.maxInFlight = max(e.maxInFlight, len(inFlight))
		e.smu.Unlock()
		if len(inFlight) == 2 {
			if err := emit(inFlight[0]); err != nil {
				return err
			}
			inFlight = inFlight[1:]
		}
	}
	for _, l := range inFlight {
		if err := emit(l); err != nil {
			return err
		}
	}
	return nil
}

func (e *streamEngine) streams() (sizes []int, maxInFlight int) {
	e.smu.Lock()
	defer e.smu.Unlock()
	return append([]int(nil), e.streamed...), e.maxInFlight
}

// sendAll sends every image of px as its own request, the clients taking
// turns, while eng holds its first call; once the rest are queued it lets
// everything run and returns the answers.
func sendAll(t *testing.T, ts *testServer, eng *testEngine, px []float32, n, per int) []answer {
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		c := clients[i%len(clients)]
		wg.Go(func() { answers[i] = c.do(t.Context(), ts, px[i*per:(i+1)*per], 1) })
	}
	first := <-eng.entered
	waitQueued(t, ts, int64(n-first))
	time.Sleep(20 * time.Millisecond) // let the last admitted requests reach the dispatcher
	close(eng.gate)
	wg.Wait()
	return answers
}

// TestStreamingBatches: on an engine that streams, the batches formed
// while the engine is busy go through one ForwardStream with two in
// flight; every client gets its own image's logits bit for bit, and the
// partial last batch goes through Run.
func TestStreamingBatches(t *testing.T) {
	m := tinyModel(t)
	eng := &streamEngine{testEngine: gated(t, m, 4)}
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	const N = 14
	px := deit.RandomPixels(m.Config, N, 61)
	want, _ := forwardEach(t, eng.Engine, px, N)
	per, L := len(px)/N, m.Config.NumLabels
	answers := sendAll(t, ts, eng.testEngine, px, N, per)
	for i, a := range answers {
		require.NoError(t, a.err, "client %d", i)
		require.Equal(t, 200, a.status, "client %d", i)
		require.Equal(t, bits(want[i*L:(i+1)*L]), bits(a.logits), "client %d got another image's logits", i)
	}
	streamed, inFlight := eng.streams()
	images := 0
	for _, b := range append(streamed, eng.calls()...) {
		images += b
	}
	require.Equal(t, N, images, "every image computed once: streamed %v, run %v", streamed, eng.calls())
	require.GreaterOrEqual(t, len(streamed), 2, "the queued full batches are streamed")
	require.Equal(t, 2, inFlight, "two batches in flight")
	for _, b := range streamed {
		require.Equal(t, 4, b)
	}
	for _, b := range eng.calls() {
		require.Less(t, b, 4, "only partial batches go through Run")
	}
}

// TestStreamFailureReruns: when a stream fails, the batches it had not
// finished run again through Run (each request alone if a batch of
// several fails), so no request is lost or answered twice.
func TestStreamFailureReruns(t *testing.T) {
	for _, failAfter := range []int{2, -1} {
		t.Run(fmt.Sprintf("fail after %d", failAfter), func(t *testing.T) {
			m := tinyModel(t)
			eng := &streamEngine{testEngine: gated(t, m, 4), failAfter: failAfter}
			ts := startServer(t, m, eng, Options{Name: "tiny"})
			const N = 13
			px := deit.RandomPixels(m.Config, N, 71)
			want, _ := forwardEach(t, eng.Engine, px, N)
			per, L := len(px)/N, m.Config.NumLabels
			answers := sendAll(t, ts, eng.testEngine, px, N, per)
			for i, a := range answers {
				require.NoError(t, a.err, "client %d", i)
				require.Equal(t, 200, a.status, "client %d", i)
				require.Equal(t, bits(want[i*L:(i+1)*L]), bits(a.logits), "client %d", i)
			}
			if streamed, _ := eng.streams(); failAfter > 0 {
				require.NotEmpty(t, streamed)
			} else {
				require.Empty(t, streamed)
			}
			require.Contains(t, eng.calls(), 4, "the failed stream's batches ran again through Run")
		})
	}
}

// TestStreamingGPU: the server on the GPU engine with staging buffers
// (two slots overlapping upload and compute): requests of a full batch
// each, queued while the engine is held, stream back to back, and each
// gets the logits of Forward on its images bit for bit.
func TestStreamingGPU(t *testing.T) {
	m := tinyModel(t)
	const B, N = 4, 5
	dev := gputest.OpenOptions(t, gpu.Options{Select: gpu.OptionsFromEnv().Select, ForceStaging: true})
	g, err := engine.NewGPU(dev, m, B, engine.GPUOptions{})
	require.NoError(t, err)
	defer g.Close()
	px := deit.RandomPixels(m.Config, N*B, 81)
	per := len(px) / N // one request's values
	want := make([][]float32, N)
	for i := range N {
		want[i], err = g.Forward(context.Background(), px[i*per:(i+1)*per], B)
		require.NoError(t, err)
	}
	eng := &streamEngine{testEngine: &testEngine{Engine: g, gate: make(chan struct{}), entered: make(chan int, 100)}, inner: g}
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	answers := make([]answer, N)
	var wg sync.WaitGroup
	for i := range N {
		c := clients[i%len(clients)]
		wg.Go(func() { answers[i] = c.do(t.Context(), ts, px[i*per:(i+1)*per], B) })
	}
	first := <-eng.entered
	require.Equal(t, B, first)
	waitQueued(t, ts, int64((N-1)*B))
	time.Sleep(20 * time.Millisecond)
	close(eng.gate)
	wg.Wait()
	for i, a := range answers {
		require.NoError(t, a.err, "client %d", i)
		require.Equal(t, 200, a.status, "client %d", i)
		require.Equal(t, bits(want[i]), bits(a.logits), "client %d", i)
	}
	streamed, _ := eng.streams()
	require.Len(t, streamed, N, "every batch streamed")
	require.Empty(t, eng.calls())
}
