package main

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/loader/imageio"
	"github.com/vkdeit/vkdeit/remote"
)

// remoteFlags are the flags of commands that can run past one machine:
// --server (inference servers instead of a local engine), --resume and
// --files-from.
type remoteFlags struct {
	fs        *pflag.FlagSet
	servers   []string
	inFlight  int
	input     string
	resume    bool
	filesFrom string
}

// addRemoteFlags adds --server, --in-flight, --server-input, --resume and
// --files-from.
func addRemoteFlags(fs *pflag.FlagSet) *remoteFlags {
	f := addServerFlags(fs)
	fs.BoolVar(&f.resume, "resume", false, "append to --output FILE as results come, skipping the inputs it already holds (json and csv)")
	fs.StringVar(&f.filesFrom, "files-from", "", "also read image paths from `FILE`, one per line (- for standard input), streamed")
	return f
}

// addServerFlags adds --server, --in-flight and --server-input only (eval:
// its inputs come from a dataset, its results are not rows to resume).
func addServerFlags(fs *pflag.FlagSet) *remoteFlags {
	f := &remoteFlags{fs: fs}
	fs.StringSliceVar(&f.servers, "server", nil, "run on Open Inference Protocol endpoints instead of a local engine: `URL,...` "+
		"(http://HOST:8080, grpc://HOST:8081, .../v2/models/NAME; vkdeit serve, Triton, KServe)")
	fs.IntVar(&f.inFlight, "in-flight", 8, "with --server: requests outstanding per endpoint")
	fs.StringVar(&f.input, "server-input", "auto", "with --server: send image files (image), pixels preprocessed here (pixels), or what the server takes (auto: files to vkdeit, pixels to others)")
	return f
}

// serverInput is --server-input as remote.Options.Input ("" for auto).
func (f *remoteFlags) serverInput() string {
	if f.input == "auto" {
		return ""
	}
	return f.input
}

// remoteClassifier runs a slice of inputs on servers, as
// classify.Classifier runs them locally.
type remoteClassifier struct{ *remote.Client }

// Stream implements eval.Classifier.
func (c remoteClassifier) Stream(ctx context.Context, ins []classify.Input, opts classify.Options, fn func(classify.Result) error) error {
	return c.Client.Stream(ctx, slices.Values(ins), opts, fn)
}

// check reports flags that contradict each other: engine flags with
// --server, --resume without a results file it can read.
func (f *remoteFlags) check(cmd, output, format string) error {
	if len(f.servers) > 0 {
		for _, n := range []string{"device", "batch", "precision"} {
			if f.fs.Changed(n) {
				return usagef("%s: --%s has no effect with --server (the servers run the model)", cmd, n)
			}
		}
		if f.inFlight < 1 {
			return usagef("%s: --in-flight must be ≥ 1, got %d", cmd, f.inFlight)
		}
	}
	switch f.input {
	case "auto", remote.InputImage, remote.InputPixels:
	default:
		return usagef("%s: --server-input must be auto, image or pixels, not %q", cmd, f.input)
	}
	if f.resume {
		if output == "" || output == "-" {
			return usagef("%s: --resume needs --output FILE: the results so far are read from it", cmd)
		}
		if format != "json" && format != "csv" {
			return usagef("%s: --resume works with --format json or csv (the formats that name each input), not %s", cmd, format)
		}
	}
	if f.filesFrom == stdinName && slices.Contains(f.fs.Args(), stdinName) {
		return usagef("%s: standard input cannot hold both an image (-) and --files-from -", cmd)
	}
	return nil
}

// openOutput opens --output with open (openOutput, openSeekableOutput),
// or for --resume appends to it (openResume) and returns what it holds.
func (f *remoteFlags) openOutput(e *env, open func(*env, string) (*outputFile, error), path, format string) (*outputFile, *resumeState, error) {
	if !f.resume {
		out, err := open(e, path)
		return out, nil, err
	}
	return openResume(e, path, format)
}

// batchJob is a run over many images, locally or on servers: its inputs
// (the arguments expanded, then --files-from's lines, less the inputs
// --resume finds done), what runs them, and what the result writers need
// to know.
type batchJob struct {
	model, device, arith string // for the result writers
	numLabels, hidden    int
	total                int64 // inputs to run, -1 when --files-from streams them
	argErrs              int   // arguments that named no readable input (already reported)
	count                int   // results delivered

	inputs  iter.Seq[classify.Input]
	listErr error // reading --files-from failed
	local   *classify.Classifier
	client  *remote.Client
}

// startBatch expands the inputs and opens what runs them: a local
// classifier (loadModel, openEngine, classify.New), or with --server a client of the
// servers. rs is --resume's record of the output file (nil without it).
func (f *remoteFlags) startBatch(ctx context.Context, e *env, model *modelFlags, ef *engineFlags, quiet bool, verb string, rs *resumeState) (*batchJob, error) {
	args := f.fs.Args()
	ins, inErrs, warnings := expandInputs(args, e.stdin)
	inErrs = forCommand(inErrs, verb)
	for _, w := range warnings {
		e.notef(quiet, "%s", w)
	}
	for _, err := range inErrs {
		fmt.Fprintf(e.stderr, "vkdeit: %v\n", err)
	}
	if len(ins) == 0 && f.filesFrom == "" {
		if len(inErrs) > 0 {
			return nil, errFailed
		}
		return nil, fmt.Errorf("no images to %s", verb)
	}
	j := &batchJob{argErrs: len(inErrs), total: int64(len(ins))}
	skipped := 0
	keep := func(in classify.Input) bool {
		if rs != nil && rs.done(inputName(in)) {
			skipped++
			return false
		}
		return true
	}
	ins = slices.DeleteFunc(ins, func(in classify.Input) bool { return !keep(in) })
	j.total = int64(len(ins))
	j.inputs = slices.Values(ins)
	if f.filesFrom != "" {
		lines, errp := readFilesFrom(e, f.filesFrom)
		j.total = -1
		j.inputs = func(yield func(classify.Input) bool) {
			defer func() { j.listErr = *errp }()
			for _, in := range ins {
				if !yield(in) {
					return
				}
			}
			for p := range lines {
				if in := (classify.Input{Path: p}); keep(in) && !yield(in) {
					return
				}
			}
		}
	}
	if rs != nil && skipped > 0 {
		e.notef(quiet, "%s: %d inputs already done, skipped", displayName(rs.path), skipped)
	}

	if len(f.servers) == 0 {
		m, err := loadModel(ctx, e, model, quiet)
		if err != nil {
			return nil, err
		}
		batch := ef.batch
		if j.total >= 0 {
			batch = max(min(batch, int(j.total)), 1)
		}
		eng, err := openEngineFor(e, m, engineRequest{device: ef.device, prec: ef.prec, maxBatch: batch, threads: ef.threads}, quiet)
		if err != nil {
			return nil, err
		}
		if j.local, err = classify.New(m, eng); err != nil {
			eng.Close()
			return nil, err
		}
		j.model, j.device, j.arith = model.arg, eng.Name(), eng.Arithmetic()
		j.numLabels, j.hidden = m.Config.NumLabels, m.Config.Hidden
		return j, nil
	}
	opts, err := f.clientOptions(ctx, e, model, quiet)
	if err != nil {
		return nil, err
	}
	if j.client, err = remote.New(ctx, f.servers, opts); err != nil {
		if !f.fs.Changed("model") && strings.Contains(err.Error(), "preprocessing makes") {
			err = fmt.Errorf("%w (--model names the served model)", err)
		}
		return nil, err
	}
	sig := j.client.Signature()
	j.model, j.device = sig.Model, "server"
	if sig.Platform != "" {
		j.device += " (" + sig.Platform + ")"
	}
	j.numLabels, j.hidden = sig.NumLabels, sig.Hidden
	e.notef(quiet, "running on %d server(s): %s", len(f.servers), &sig)
	return j, nil
}

// clientOptions are the client's options: the flags, and from --model,
// when given, the labels and preprocessing of the served model (its
// config.json and preprocessor_config.json; the weights are not read).
// Without --model the servers are asked for the model --model's default
// would serve, and its defaults apply: ImageNet-1k labels for 1000
// classes, the DeiT preprocessing.
func (f *remoteFlags) clientOptions(ctx context.Context, e *env, model *modelFlags, quiet bool) (remote.Options, error) {
	opts := remote.Options{Model: servedName(model.arg), InFlight: f.inFlight,
		Logf: func(format string, args ...any) { e.notef(quiet, format, args...) }}
	opts.Input = f.serverInput()
	if !f.fs.Changed("model") {
		return opts, nil
	}
	h := hub.FromEnv()
	var done func()
	h.Progress, done = downloadProgress(e, quiet)
	defer done()
	files, err := hub.ResolveModel(ctx, model.arg, h)
	if err != nil {
		return opts, fmt.Errorf("model %s: %w", model.arg, err)
	}
	if files.Config != "" {
		hf, err := deit.ReadHFConfig(files.Config)
		if err != nil {
			return opts, fmt.Errorf("model %s: %w", model.arg, err)
		}
		for i, l := range hf.ID2Label {
			if i >= 0 && i < 1<<20 {
				for len(opts.Labels) <= i {
					opts.Labels = append(opts.Labels, "")
				}
				opts.Labels[i] = l
			}
		}
	}
	if files.Preprocessor != "" {
		if opts.Preprocessor, err = imageio.ReadPreprocessor(files.Preprocessor); err != nil {
			return opts, fmt.Errorf("model %s: %w", model.arg, err)
		}
	}
	return opts, nil
}

// stream runs every input and calls fn with each result in input order,
// r.Name naming the input; with --files-from a local run goes in chunks,
// so that the list is never held whole.
func (j *batchJob) stream(ctx context.Context, opts classify.Options, each func(classify.Result) error) error {
	fn := func(r classify.Result) error {
		j.count++
		return each(r)
	}
	var err error
	switch {
	case j.client != nil:
		err = j.client.Stream(ctx, j.inputs, opts, fn)
	case j.total >= 0:
		err = j.local.Stream(ctx, slices.Collect(j.inputs), opts, fn)
	default:
		base := 0
		for chunk := range chunks(j.inputs, localChunk) {
			if err = j.local.Stream(ctx, chunk, opts, func(r classify.Result) error {
				r.Index += base
				return fn(r)
			}); err != nil {
				break
			}
			base += len(chunk)
		}
	}
	if err == nil && j.listErr != nil {
		err = j.listErr
	}
	return err
}

// localChunk is how many --files-from inputs a local run holds at once.
const localChunk = 4096

// chunks groups a sequence into slices of up to n.
func chunks[T any](seq iter.Seq[T], n int) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		buf := make([]T, 0, n)
		for v := range seq {
			if buf = append(buf, v); len(buf) == n {
				if !yield(buf) {
					return
				}
				buf = make([]T, 0, n)
			}
		}
		if len(buf) > 0 {
			yield(buf)
		}
	}
}

// Close closes the engine or the connections.
func (j *batchJob) Close() error {
	if j.client != nil {
		return j.client.Close()
	}
	return j.local.Close()
}
