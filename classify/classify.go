// Package classify is the classification pipeline the CLI and the server
// share: decoding and preprocessing on worker goroutines ahead of an
// engine, batches of up to the engine's MaxBatch, results in input order
// with per-input errors as values, and the rankings (TopK, Softmax).
package classify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/explain"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// Prediction is one class of an image's ranking, in the shape of Hugging
// Face's image-classification pipeline ({"label", "score"}) plus the class
// index and its raw logit.
type Prediction struct {
	Label string  `json:"label"`
	Score float64 `json:"score"` // softmax probability, computed in float64
	Index int     `json:"index"`
	Logit float32 `json:"logit"`
}

// ErrNonFinite is returned (wrapped) for an image whose logits are NaN or
// infinite: such a ranking would be meaningless, so none is made.
var ErrNonFinite = errors.New("the model produced non-finite logits (NaN or Inf)")

// TopK ranks one image's logits: the k most probable classes, most probable
// first, ties going to the lower index (k is clamped to the class count).
// Scores are softmax probabilities computed in float64 over all classes.
// labels name the classes ("LABEL_i" where missing).
func TopK(logits []float32, k int, labels []string) ([]Prediction, error) {
	for _, l := range logits {
		if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
			return nil, ErrNonFinite
		}
	}
	m, sum := softmaxNorm(logits)
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	out := make([]Prediction, 0, min(max(k, 0), len(idx)))
	for _, i := range idx[:cap(out)] {
		out = append(out, Prediction{Label: labelOf(labels, i), Score: math.Exp(float64(logits[i])-m) / sum, Index: i, Logit: logits[i]})
	}
	return out, nil
}

// softmaxNorm returns the largest logit and Σ exp(l − max), in float64:
// score i is exp(l_i − max)/sum.
func softmaxNorm(logits []float32) (m, sum float64) {
	m = math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	for _, l := range logits {
		sum += math.Exp(float64(l) - m)
	}
	return m, sum
}

// Softmax writes the softmax of one image's logits to dst (at least as
// long), computed in float64 as TopK's scores are, rounded to float32.
func Softmax(dst, logits []float32) {
	m, sum := softmaxNorm(logits)
	for i, l := range logits {
		dst[i] = float32(math.Exp(float64(l)-m) / sum)
	}
}

// labelOf returns class i's name, or Hugging Face's placeholder "LABEL_i".
func labelOf(labels []string, i int) string {
	if i < len(labels) && labels[i] != "" {
		return labels[i]
	}
	return fmt.Sprintf("LABEL_%d", i)
}

// Input is one image to classify. Exactly one of Path, Data, Image and
// Pixels is set.
type Input struct {
	// Name is how results and errors refer to the input; "" means Path.
	Name string
	// Path is an image file to read and decode.
	Path string
	// Data is an encoded image file (JPEG, PNG, ...) already in memory.
	Data []byte
	// Image is a decoded picture, converted as PIL's convert("RGB") would
	// (no EXIF orientation is applied to it).
	Image image.Image
	// Pixels is an already preprocessed image [Channels, ImageSize,
	// ImageSize], as imageio.Preprocessor.Apply returns it.
	Pixels []float32
}

func (in Input) name() string {
	if in.Name != "" {
		return in.Name
	}
	if in.Path != "" {
		return in.Path
	}
	return "image"
}

// Prepare turns one input into m's input pixels: decoding (with opts,
// waiting for opts.Budget under ctx) and the model's preprocessing, or a
// length check for Pixels. Errors name the input.
func Prepare(ctx context.Context, m *deit.Model, in Input, opts imageio.DecodeOptions) ([]float32, error) {
	set := 0
	for _, ok := range []bool{in.Path != "", in.Data != nil, in.Image != nil, in.Pixels != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("%s: an input needs exactly one of Path, Data, Image and Pixels (has %d)", in.name(), set)
	}
	c := m.Config
	if in.Pixels != nil {
		if err := c.CheckPixels(in.Pixels, 1); err != nil {
			return nil, fmt.Errorf("%s: %w", in.name(), err)
		}
		return in.Pixels, nil
	}
	var img *imageio.Image
	var err error
	switch {
	case in.Path != "":
		img, err = imageio.LoadContext(ctx, in.Path, opts)
	case in.Data != nil:
		img, err = imageio.DecodeContext(ctx, bytes.NewReader(in.Data), opts)
	default:
		img, err = imageio.FromImage(in.Image)
	}
	if err != nil {
		return nil, nameErr(in, err)
	}
	pre := m.Preprocessor
	if pre == nil {
		pre = c.DefaultPreprocessor()
	}
	px, err := pre.Apply(img)
	if err != nil {
		return nil, nameErr(in, err)
	}
	if per := c.Channels * c.ImageSize * c.ImageSize; len(px) != per {
		return nil, fmt.Errorf("%s: preprocessing gave %d values, the model takes %d (%d×%d×%d); check preprocessor_config.json",
			in.name(), len(px), per, c.Channels, c.ImageSize, c.ImageSize)
	}
	return px, nil
}

// nameErr makes sure an input's error names it once.
func nameErr(in Input, err error) error {
	if in.Path != "" && in.Name == "" {
		return err // imageio errors name the file already
	}
	return fmt.Errorf("%s: %w", in.name(), err)
}

// Result is what Classify and Stream report for one input.
type Result struct {
	// Index is the input's position in the list given.
	Index int
	// Name is the input's name (Input.Name, else its path).
	Name string
	// Err is why this input has no result (unreadable, not an image,
	// non-finite logits); the other fields are then empty.
	Err error
	// Top is the ranking, most probable first (Options.TopK long).
	Top []Prediction
	// Logits are all NumLabels logits.
	Logits []float32
	// Embedding is the final-LayerNorm [CLS] row (Hugging Face DeiTModel's
	// last_hidden_state[:, 0]) and DistillationEmbedding the [DIST] row of
	// distilled models; set only with Options.Embeddings.
	Embedding, DistillationEmbedding []float32
	// Attention are the image's attention maps made by Options.Attention
	// (explain.Maps: per special token, over the patch grid); set only
	// with that option.
	Attention []explain.Map
	// Preprocess is the time spent decoding and preprocessing this input;
	// Forward the wall time of the forward pass of the batch that held it
	// (on an engine that streams, from handing the batch to the engine to
	// its logits coming back, which includes finishing the batch before
	// it), BatchSize that batch's size.
	Preprocess, Forward time.Duration
	BatchSize           int
}

// Options tune Classify and Stream.
type Options struct {
	// TopK is the length of each ranking (default 5; more than the class
	// count gives all).
	TopK int
	// Embeddings also returns each image's embedding(s).
	Embeddings bool
	// Attention, when set (explain.Rollout or explain.Last), also returns
	// each image's attention maps made that way; the forward passes then
	// compute the attention probabilities (deit.TapAttention).
	Attention explain.Method
	// Workers decode and preprocess this many inputs in parallel, ahead of
	// the engine (default GOMAXPROCS).
	Workers int
	// Decode controls image decoding: EXIF orientation, the size limits,
	// and a Budget bounding the decoders' memory together (worth setting
	// when Workers is large or images are big).
	Decode imageio.DecodeOptions
}

// Classifier classifies images with a model on an engine: decoding and
// preprocessing run on worker goroutines ahead of the engine, images go
// through it in batches of up to Engine.MaxBatch, and every input gets a
// Result in input order. It is safe for concurrent use (the engine
// serializes forward passes).
type Classifier struct {
	m   *deit.Model
	eng engine.Engine
}

// New returns a Classifier for m running on e, which it takes over:
// Classifier.Close closes it. e must have been built for m.
func New(m *deit.Model, e engine.Engine) (*Classifier, error) {
	if m == nil || e == nil {
		return nil, errors.New("classify: nil model or engine")
	}
	if ec := e.Config(); ec.Hidden != m.Config.Hidden || ec.NumLabels != m.Config.NumLabels || ec.ImageSize != m.Config.ImageSize {
		return nil, errors.New("classify: the engine was built for another model")
	}
	return &Classifier{m: m, eng: e}, nil
}

// Engine is the engine the classifier runs on.
func (c *Classifier) Engine() engine.Engine { return c.eng }

// Model is the classifier's model.
func (c *Classifier) Model() *deit.Model { return c.m }

// Close closes the engine.
func (c *Classifier) Close() error { return c.eng.Close() }

// Classify classifies every input and returns their results in input
// order. Per-input failures are in Result.Err; the error is for failures
// that stop everything (the engine, ctx).
func (c *Classifier) Classify(ctx context.Context, inputs []Input, opts Options) ([]Result, error) {
	out := make([]Result, 0, len(inputs))
	err := c.Stream(ctx, inputs, opts, func(r Result) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// ClassifyImage ranks one decoded image: the top k classes.
func (c *Classifier) ClassifyImage(ctx context.Context, img image.Image, k int) ([]Prediction, error) {
	res, err := c.Classify(ctx, []Input{{Image: img}}, Options{TopK: k, Workers: 1})
	if err != nil {
		return nil, err
	}
	return res[0].Top, res[0].Err
}

// slot is one input's preprocessing result, filled by a worker.
type slot struct {
	pixels []float32
	err    error
	prep   time.Duration
	done   chan struct{}
}

// Stream classifies inputs like Classify but hands each Result to yield as
// soon as it and every earlier one are ready, in input order, so a caller
// can print results while later images are still being decoded. At most a
// few batches are decoded ahead, bounding memory. An error from yield stops
// the stream and is returned.
//
// On an engine that streams (engine.Streamer: the GPU engine) and without
// taps (Options.Embeddings, Options.Attention), full batches whose images
// are ready go through ForwardStream back to back, so that on a discrete
// GPU each batch's upload overlaps the previous batch's compute; yield is
// then called while the engine is held. The last, partial batch and every
// batch with taps run through Engine.Run. The results are the same bit for
// bit either way.
func (c *Classifier) Stream(ctx context.Context, inputs []Input, opts Options, yield func(Result) error) error {
	if opts.TopK == 0 {
		opts.TopK = 5
	}
	if opts.TopK < 0 {
		return fmt.Errorf("classify: top-k %d must be positive", opts.TopK)
	}
	if opts.Attention != "" {
		m, err := explain.ParseMethod(string(opts.Attention))
		if err != nil {
			return fmt.Errorf("classify: %w", err)
		}
		opts.Attention = m
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n, B := len(inputs), c.eng.MaxBatch()
	workers = min(workers, n)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Stop the feeder and wait for the workers on every return path.
	defer func() { cancel(); wg.Wait() }()

	slots := make([]slot, n)
	for i := range slots {
		slots[i].done = make(chan struct{})
	}
	ahead := make(chan struct{}, 2*B+workers)
	jobs := make(chan int)
	go func() {
		defer close(jobs)
		for i := range n {
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t0 := time.Now()
				slots[i].pixels, slots[i].err = Prepare(ctx, c.m, inputs[i], opts.Decode)
				slots[i].prep = time.Since(t0)
				close(slots[i].done)
			}
		}()
	}

	cfg := c.m.Config
	per := cfg.Channels * cfg.ImageSize * cfg.ImageSize
	var taps deit.Tap
	if opts.Embeddings {
		taps |= deit.TapEmbeddings
	}
	if opts.Attention != "" {
		taps |= deit.TapAttention
	}
	batch := make([]float32, 0, B*per)
	var inBatch, pending []int // inputs in the batch; every input waiting to be yielded
	// report yields the results of the inputs of group in order, the
	// prepared ones from images 0, 1, … of a batch's output.
	report := func(group []int, out *engine.Output, fwd time.Duration, size int) error {
		k := 0
		for _, i := range group {
			r := Result{Index: i, Name: inputs[i].name(), Err: slots[i].err, Preprocess: slots[i].prep}
			if r.Err == nil {
				r.Forward, r.BatchSize = fwd, size
				c.fill(&r, out, k, opts)
				k++
			}
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	}
	forwardErr := func(size, first int, err error) error {
		return fmt.Errorf("classify: forward pass on %s (batch of %d starting with %s): %w",
			c.eng.Name(), size, inputs[first].name(), err)
	}
	runBatch := func() error {
		out := &engine.Output{}
		var fwd time.Duration
		if len(inBatch) > 0 {
			t0 := time.Now()
			var err error
			out, err = c.eng.Run(ctx, batch, len(inBatch), taps)
			if err != nil {
				return forwardErr(len(inBatch), inBatch[0], err)
			}
			fwd = time.Since(t0)
		}
		if err := report(pending, out, fwd, len(inBatch)); err != nil {
			return err
		}
		pending, inBatch, batch = pending[:0], inBatch[:0], batch[:0]
		return nil
	}
	next := 0 // the next input to take
	// take moves input next, prepared or failed, to pending (and to the
	// batch).
	take := func() {
		<-ahead
		i := next
		next++
		pending = append(pending, i)
		if slots[i].err == nil {
			inBatch = append(inBatch, i)
			batch = append(batch, slots[i].pixels...)
			slots[i].pixels = nil
		}
	}
	// stream hands the full batch gathered, and every following one whose
	// inputs are all prepared already, to the engine's ForwardStream, so
	// that each batch's upload overlaps the previous batch's compute. It
	// ends as soon as the next batch is not ready (rather than hold the
	// engine while images decode), leaving what it gathered for the loop
	// below. Taps are not streamed: with taps every batch goes through Run.
	streamer, _ := c.eng.(engine.Streamer)
	if taps != 0 {
		streamer = nil
	}
	stream := func() error {
		type handed struct {
			group []int // the inputs it reports, failed ones included
			first int   // its first image's input
			t0    time.Time
		}
		var fifo []handed // batches handed out, not yet emitted
		var yieldErr error
		nextBatch := func() ([]float32, error) {
			for len(inBatch) < B && next < n {
				select {
				case <-slots[next].done:
				default:
					return nil, nil
				}
				take()
			}
			if len(inBatch) < B {
				return nil, nil
			}
			fifo = append(fifo, handed{group: pending, first: inBatch[0], t0: time.Now()})
			pending, inBatch = nil, inBatch[:0]
			px := batch
			batch = batch[:0] // the engine has copied px before it asks again
			return px, nil
		}
		emit := func(logits []float32) error {
			h := fifo[0]
			fifo = fifo[1:]
			yieldErr = report(h.group, &engine.Output{Logits: logits}, time.Since(h.t0), B)
			return yieldErr
		}
		err := streamer.ForwardStream(ctx, B, nextBatch, emit)
		switch {
		case err == nil:
		case yieldErr != nil:
			return yieldErr
		case len(fifo) > 0:
			return forwardErr(B, fifo[0].first, err)
		case len(inBatch) > 0: // the engine failed before taking a batch
			return forwardErr(B, inBatch[0], err)
		default:
			return forwardErr(B, next-1, err)
		}
		// Failures the stream gathered after its last batch: report them
		// now, as the loop does.
		if len(inBatch) == 0 && len(pending) > 0 {
			return runBatch()
		}
		return nil
	}
	for next < n {
		select {
		case <-slots[next].done:
		case <-ctx.Done():
			return ctx.Err()
		}
		take()
		var err error
		switch {
		case len(inBatch) == B && streamer != nil:
			err = stream()
		case len(inBatch) == B || len(inBatch) == 0:
			// Full batches, and failures with nothing queued before them
			// so that they are reported without waiting.
			err = runBatch()
		}
		if err != nil {
			return err
		}
	}
	return runBatch()
}

// fill sets r's ranking (and embeddings, attention maps) from image k of a
// batch's outputs.
func (c *Classifier) fill(r *Result, out *engine.Output, k int, opts Options) {
	cfg := c.m.Config
	L, D, H := cfg.NumLabels, cfg.Hidden, cfg.HeadTokens()
	r.Logits = append([]float32(nil), out.Logits[k*L:(k+1)*L]...)
	top, err := TopK(r.Logits, opts.TopK, cfg.Labels)
	if err != nil {
		r.Err = fmt.Errorf("%s: %w", r.Name, err)
		r.Logits = nil
		return
	}
	r.Top = top
	if opts.Attention != "" {
		maps, err := explain.Maps(opts.Attention, out.Attention, k, cfg)
		if err != nil {
			r.Err = fmt.Errorf("%s: %w", r.Name, err)
			r.Logits, r.Top = nil, nil
			return
		}
		r.Attention = maps
	}
	if opts.Embeddings {
		row := out.Embeddings[k*H*D : (k+1)*H*D]
		r.Embedding = append([]float32(nil), row[:D]...)
		if H > 1 {
			r.DistillationEmbedding = append([]float32(nil), row[D:2*D]...)
		}
	}
}
