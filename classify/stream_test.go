package classify

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// streamInputs are n distinct preprocessed images of m with a failing input
// after every third (short pixels), so that failures fall between and
// inside batches.
func streamInputs(m *deit.Model, n int) []Input {
	var in []Input
	for i := range n {
		in = append(in, Input{Name: fmt.Sprintf("img%d", i), Pixels: deit.RandomPixels(m.Config, 1, int64(100+i))})
		if i%3 == 1 {
			in = append(in, Input{Name: fmt.Sprintf("short%d", i), Pixels: make([]float32, 10)})
		}
	}
	return in
}

// comparable drops what differs between two runs of the same inputs (the
// timings, and errors as values) from results.
func comparable(res []Result) []Result {
	out := make([]Result, len(res))
	for i, r := range res {
		r.Preprocess, r.Forward = 0, 0
		if r.Err != nil {
			r.Name += ": " + r.Err.Error()
			r.Err = nil
		}
		out[i] = r
	}
	return out
}

// plain hides an engine's ForwardStream: every batch goes through Run.
type plain struct{ engine.Engine }

// spy counts the batches an engine runs through ForwardStream and Run.
type spy struct {
	engine.Engine
	s                           engine.Streamer
	streamed, streamedImgs, run atomic.Int64
	runImgs                     atomic.Int64
}

func (e *spy) ForwardStream(ctx context.Context, B int, next func() ([]float32, error), emit func([]float32) error) error {
	return e.s.ForwardStream(ctx, B, func() ([]float32, error) {
		px, err := next()
		if px != nil {
			e.streamed.Add(1)
			e.streamedImgs.Add(int64(B))
		}
		return px, err
	}, emit)
}

func (e *spy) Run(ctx context.Context, px []float32, B int, taps deit.Tap) (*engine.Output, error) {
	e.run.Add(1)
	e.runImgs.Add(int64(B))
	return e.Engine.Run(ctx, px, B, taps)
}

// overlapping is a Streamer over any engine that keeps two batches in
// flight, as the GPU engine does on a discrete GPU: it asks for batch i+1
// before it emits batch i, and emits the last one after next ends the
// stream.
type overlapping struct{ engine.Engine }

func (e overlapping) ForwardStream(ctx context.Context, B int, next func() ([]float32, error), emit func([]float32) error) error {
	var inFlight [][]float32
	for {
		px, err := next()
		if err != nil {
			return err
		}
		if px == nil {
			break
		}
		logits, err := e.Forward(ctx, px, B)
		if err != nil {
			return err
		}
		clear(px) // the caller may reuse px once next is called again
		if inFlight = append(inFlight, logits); len(inFlight) == 2 {
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

// TestClassifierStreamOverlapping: through an engine that keeps two
// batches in flight, Classify's results (failures between and inside
// batches, a partial last batch) are those of Run batch by batch, in input
// order; with taps nothing is streamed.
func TestClassifierStreamOverlapping(t *testing.T) {
	m := tinyModel(t)
	const B = 2
	ref := newReference(t, m, B)
	defer ref.Close()
	inputs := streamInputs(m, 9)
	ctx := context.Background()
	base, err := New(m, plain{ref})
	require.NoError(t, err)
	s := &spy{Engine: ref, s: overlapping{ref}}
	streaming, err := New(m, s)
	require.NoError(t, err)
	for _, opts := range []Options{{TopK: 3, Workers: 4}, {TopK: 3, Workers: 1}, {TopK: 3, Workers: 4, Embeddings: true}} {
		s.streamed.Store(0)
		s.streamedImgs.Store(0)
		s.runImgs.Store(0)
		want, err := base.Classify(ctx, inputs, opts)
		require.NoError(t, err)
		got, err := streaming.Classify(ctx, inputs, opts)
		require.NoError(t, err)
		require.Equal(t, comparable(want), comparable(got))
		require.Equal(t, int64(9), s.streamedImgs.Load()+s.runImgs.Load(), "every image once")
		if opts.Embeddings {
			require.Zero(t, s.streamed.Load(), "taps go through Run")
		} else {
			require.Positive(t, s.streamed.Load(), "full batches are streamed")
			require.Positive(t, s.runImgs.Load(), "the partial last batch goes through Run")
		}
		t.Logf("%+v: %d batches streamed, %d images through Run", opts, s.streamed.Load(), s.runImgs.Load())
	}

	// An error from yield inside the stream stops it and comes back as is.
	stop := errors.New("stop")
	n := 0
	err = streaming.Stream(ctx, inputs, Options{}, func(Result) error { n++; return stop })
	require.Equal(t, stop, err)
	require.Equal(t, 1, n)
}

// failing is a Streamer whose stream fails after one batch.
type failing struct{ engine.Engine }

func (e failing) ForwardStream(ctx context.Context, B int, next func() ([]float32, error), emit func([]float32) error) error {
	if _, err := next(); err != nil {
		return err
	}
	return errors.New("device lost")
}

// TestClassifierStreamEngineError: an engine error in the stream stops the
// classification, naming the engine and the batch's first input.
func TestClassifierStreamEngineError(t *testing.T) {
	m := tinyModel(t)
	ref := newReference(t, m, 2)
	defer ref.Close()
	c, err := New(m, failing{ref})
	require.NoError(t, err)
	_, err = c.Classify(context.Background(), streamInputs(m, 4), Options{})
	require.ErrorContains(t, err, "classify: forward pass on reference")
	require.ErrorContains(t, err, "(batch of 2 starting with img0): device lost")
}

// TestClassifierStreamGPU: on a Vulkan device with staging buffers (the
// discrete-GPU path, two slots overlapping upload and compute) and with
// mapped memory, Classify through ForwardStream gives the results of Run
// bit for bit.
func TestClassifierStreamGPU(t *testing.T) {
	m := tinyModel(t)
	const B = 2
	inputs := streamInputs(m, 11)
	for _, tc := range []struct {
		name string
		opts gpu.Options
	}{{"staging", gpu.Options{ForceStaging: true}}, {"mapped", gpu.Options{}}} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Select = gpu.OptionsFromEnv().Select
			dev := gputest.OpenOptions(t, tc.opts)
			e, err := engine.NewGPU(dev, m, B, engine.GPUOptions{})
			require.NoError(t, err)
			defer e.Close()
			ctx := context.Background()
			base, err := New(m, plain{e})
			require.NoError(t, err)
			want, err := base.Classify(ctx, inputs, Options{TopK: 5})
			require.NoError(t, err)
			s := &spy{Engine: e, s: e}
			streaming, err := New(m, s)
			require.NoError(t, err)
			got, err := streaming.Classify(ctx, inputs, Options{TopK: 5})
			require.NoError(t, err)
			require.Equal(t, comparable(want), comparable(got))
			require.Positive(t, s.streamed.Load())
			require.Equal(t, int64(11), s.streamedImgs.Load()+s.runImgs.Load())
			t.Logf("%d batches streamed, %d images through Run", s.streamed.Load(), s.runImgs.Load())
		})
	}
}
