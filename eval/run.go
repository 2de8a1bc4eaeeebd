package eval

import (
	"context"
	"fmt"
	"time"

	"github.com/vkdeit/vkdeit/classify"
)

// Options tune Evaluate.
type Options struct {
	// Classify are the pipeline's options (workers, decoding); TopK is set
	// by Evaluate.
	Classify classify.Options
	// Subset makes predictions among the classes the data's labels map to
	// only (ImageNet-A/R style scoring of a subset of the model's classes).
	Subset bool
	// Limit scores at most this many images (0: all), spread evenly over
	// the dataset so that every class keeps its share.
	Limit int
	// OnImage, when set, is called for every image in dataset order as it
	// is scored (or fails), from the goroutine that called Evaluate; an
	// error from it stops the evaluation.
	OnImage func(ImageResult) error
}

// ImageResult is one image's outcome.
type ImageResult struct {
	Sample
	// Class is the image's true model class.
	Class int
	// Top is the model's ranking (top-K, among the subset when scoring
	// one); empty when Err is set.
	Top []classify.Prediction
	// Err is why the image could not be scored (unreadable, not an
	// image, non-finite logits).
	Err error
}

// Report is an evaluation's outcome.
type Report struct {
	*Results
	// Failed counts the images that could not be scored (each was given to
	// OnImage with its error).
	Failed int
	// Elapsed is the wall time from the first image's decoding to the last
	// result; Forward the time spent in forward passes.
	Elapsed, Forward time.Duration
}

// Throughput is images scored per second of wall time, decoding included.
func (r *Report) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Images+r.Failed) / r.Elapsed.Seconds()
}

// Pick returns the samples Evaluate scores with a limit of n: all of them
// when n is 0 or covers them, else n spread evenly (sample ⌊i·len/n⌋ for
// i < n).
func Pick(samples []Sample, n int) []Sample {
	if n <= 0 || n >= len(samples) {
		return samples
	}
	out := make([]Sample, n)
	for i := range out {
		out[i] = samples[i*len(samples)/n]
	}
	return out
}

// Classifier runs images through a model in input order: a local
// classify.Classifier, or servers (remote.Client, whose Stream takes an
// iterator: the caller adapts it).
type Classifier interface {
	Stream(ctx context.Context, inputs []classify.Input, opts classify.Options, yield func(classify.Result) error) error
}

// Evaluate classifies the dataset's images with c, a model whose classes
// are labels, and scores them against their labels, mapped to model
// classes by m (see MapLabels, which should run before anything is
// loaded). Images that cannot be read are counted in Report.Failed and
// reported to opts.OnImage; the error is for what stops everything (the
// engine or servers, ctx, OnImage).
func Evaluate(ctx context.Context, c Classifier, labels []string, ds *Dataset, m *Mapping, opts Options) (*Report, error) {
	samples := Pick(ds.Samples, opts.Limit)
	ins := make([]classify.Input, len(samples))
	for i, s := range samples {
		if _, ok := m.Class[s.Label]; !ok {
			return nil, fmt.Errorf("eval: %s: label %q is not in the mapping", s.Path, s.Label)
		}
		ins[i] = classify.Input{Path: s.Path}
	}
	var subset []int
	if opts.Subset {
		subset = m.Subset()
	}
	sc := NewScorer(labels, subset)
	co := opts.Classify
	co.TopK, co.Embeddings = 1, false // ranking is the scorer's, over the subset
	rep := &Report{}
	t0 := time.Now()
	err := c.Stream(ctx, ins, co, func(r classify.Result) error {
		s := samples[r.Index]
		ir := ImageResult{Sample: s, Class: m.Class[s.Label], Err: r.Err}
		if ir.Err == nil {
			ir.Top, ir.Err = sc.Add(ir.Class, r.Logits)
			if ir.Err != nil {
				ir.Err = fmt.Errorf("%s: %w", s.Path, ir.Err)
			}
			if r.BatchSize > 0 {
				rep.Forward += r.Forward / time.Duration(r.BatchSize)
			}
		}
		if ir.Err != nil {
			rep.Failed++
		}
		if opts.OnImage != nil {
			return opts.OnImage(ir)
		}
		return nil
	})
	rep.Elapsed = time.Since(t0)
	rep.Results = sc.Results()
	return rep, err
}
