package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"

	"github.com/vkdeit/vkdeit/internal/version"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/server"
)

const serveSynopsis = `serve [flags]

Serves a model (--model) or every model of a model repository
(--model-repository DIR: one sub-directory per model, named after it) over
the Open Inference Protocol (KServe v2) with Triton's model configuration,
classification and model repository extensions: REST on --http (default
:8080: /v2/..., /classify, /metrics, health) and gRPC on --grpc (default
:8081, inference.GRPCInferenceService). It takes its ports first, then loads
the models; it is live at once and ready once every model has run every
batch size once. Requests for a model from every client and both protocols
share its queue and are batched dynamically (up to --max-batch images,
waiting at most --max-delay for a batch to fill). On SIGTERM or SIGINT
readiness turns false, new requests are refused, every accepted request is
answered (within --drain-timeout), and vkdeit exits 0. Logs are JSON lines on
stderr (--log-format text for people); a closed log pipe does not stop it.`

const serveExamples = `  vkdeit serve --model facebook/deit-small-distilled-patch16-224
  vkdeit serve --model ~/models/deit-tiny --device cpu --max-batch 16 --max-delay 2ms
  vkdeit serve --model-repository /mnt/models
  curl -s --data-binary @cat.jpg 'localhost:8080/classify?top_k=3'
  curl -s localhost:8080/v2/models/deit-small-distilled-patch16-224
  grpcurl -plaintext localhost:8081 inference.GRPCInferenceService/ServerReady
`

// serveConfig is what serve's command line asks for.
type serveConfig struct {
	model     *modelFlags
	repoDir   string // --model-repository
	device    string
	precision deit.Precision
	threads   int
	opts      server.Options // every server flag, the decode options, the logger and the name
}

// parseServe parses serve's flags: the engine's, the server's
// (server.Options.AddFlags, --workers among them), image decoding's and
// logging's, each registered once.
func parseServe(e *env, args []string) (*serveConfig, error) {
	fs := newFlagSet(e, "serve", serveSynopsis, serveExamples)
	model := modelFlag(fs)
	repoDir := fs.String("model-repository", "", "serve every model directory inside this directory instead of --model (each named after its directory)")
	device := fs.StringP("device", "d", "auto", deviceHelp)
	var prec deit.Precision
	precisionFlag(fs, &prec)
	var threads int
	threadsFlag(fs, &threads)
	var opts server.Options
	opts.AddFlags(fs)
	df := addServeDecodeFlags(fs)
	logFormat := fs.String("log-format", "json", "log lines as json or text")
	logLevel := fs.String("log-level", "info", "least severe level logged: debug, info, warn or error")
	if err := parse(e, fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, usagef("serve: unexpected arguments %q (the model is --model)", fs.Args())
	}
	if *repoDir != "" && (fs.Changed("model") || fs.Changed("name")) {
		return nil, usagef("serve: --model-repository serves the models of its directory, each under its directory's name: leave out --model and --name")
	}
	decode, err := df.options("serve")
	if err != nil {
		return nil, err
	}
	if err := checkThreads("serve", threads); err != nil {
		return nil, err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, usagef("serve: --log-level: %v", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch *logFormat {
	case "json":
		opts.Logger = slog.New(slog.NewJSONHandler(e.stderr, hopts))
	case "text":
		opts.Logger = slog.New(slog.NewTextHandler(e.stderr, hopts))
	default:
		return nil, usagef("serve: --log-format must be json or text, not %q", *logFormat)
	}
	switch {
	case opts.MaxBatch < 1:
		return nil, usagef("serve: --max-batch must be ≥ 1, got %d", opts.MaxBatch)
	case opts.Workers < 0:
		return nil, usagef("serve: --workers must be ≥ 0 (0: GOMAXPROCS), got %d", opts.Workers)
	}
	opts.Decode = decode
	opts.ServerVersion = version.String()
	if opts.Name == "" {
		opts.Name = servedName(model.arg)
	}
	return &serveConfig{model: model, repoDir: *repoDir, device: *device, precision: prec, threads: threads, opts: opts}, nil
}

// addServeDecodeFlags adds the image decoding flags to serve's flag set,
// all but --workers: that one is the server's (server.Options.Workers, the
// parallel decoders ahead of the engine), registered by AddFlags.
func addServeDecodeFlags(fs *pflag.FlagSet) *decodeFlags {
	all := pflag.NewFlagSet("decode", pflag.ContinueOnError)
	all.SortFlags = false // visit them in the order they were added
	df := addDecodeFlags(all)
	all.VisitAll(func(f *pflag.Flag) {
		if f.Name != "workers" {
			fs.AddFlag(f)
		}
	})
	return df
}

func runServe(ctx context.Context, e *env, args []string) error {
	c, err := parseServe(e, args)
	if err != nil {
		return err
	}
	opts := c.opts
	// A log pipe whose reader is gone (`vkdeit serve 2>&1 | tee log`, then
	// Ctrl-C) must not end the server while it drains: writes to it fail
	// instead.
	signal.Ignore(syscall.SIGPIPE)
	// The ports first: a port in use is known before a model loads.
	hl, gl, err := listenServe(opts)
	if err != nil {
		return err
	}
	repo := &modelRepo{e: e, device: c.device, precision: c.precision, threads: c.threads, log: opts.Logger}
	if c.repoDir != "" {
		repo.dir = c.repoDir
		names, err := repo.Models()
		if err != nil {
			closeAll(hl, gl)
			return err
		}
		if len(names) == 0 {
			closeAll(hl, gl)
			return fmt.Errorf("serve: --model-repository %s holds no model directory", c.repoDir)
		}
	} else {
		repo.single, repo.name = c.model, opts.Name
	}
	opts.Repository = repo
	s, err := server.New(nil, nil, opts)
	if err != nil {
		closeAll(hl, gl)
		return err
	}
	if c.repoDir == "" {
		// The decoders' budget bounds the process too, once the model and
		// engine are in memory. (A repository's models come and go: its
		// process is left unbounded.)
		go func() {
			for !s.Ready() && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			opts.Decode.Budget.LimitProcessMemory()
		}()
	}
	// A signal starts the drain; the process waits for it (plus a margin)
	// before it ends the command by force.
	e.setGrace(s.DrainTimeout() + 5*time.Second)
	// A drain cut short at its timeout is still a clean stop (the server
	// logged it): exit 0.
	if err := s.Serve(ctx, hl, gl); err != nil && !errors.Is(err, server.ErrDrainCutShort) {
		return fmt.Errorf("serve: %w", err)
	}
	if ctx.Err() != nil {
		return errShutDown
	}
	return nil
}

// listenServe listens on --http and --grpc (nil for "off").
func listenServe(o server.Options) (hl, gl net.Listener, err error) {
	if o.HTTPAddr != server.Off {
		if hl, err = net.Listen("tcp", o.HTTPAddr); err != nil {
			return nil, nil, fmt.Errorf("serve: --http %s: %w", o.HTTPAddr, err)
		}
	}
	if o.GRPCAddr != server.Off {
		if gl, err = net.Listen("tcp", o.GRPCAddr); err != nil {
			closeAll(hl, nil)
			return nil, nil, fmt.Errorf("serve: --grpc %s: %w", o.GRPCAddr, err)
		}
	}
	if hl == nil && gl == nil {
		return nil, nil, usagef("serve: --http and --grpc are both off")
	}
	return hl, gl, nil
}

// closeAll closes the listeners that are not nil.
func closeAll(ls ...net.Listener) {
	for _, l := range ls {
		if l != nil {
			l.Close()
		}
	}
}

// modelRepo is serve's server.Repository: the one --model, under its
// name, or every model directory of --model-repository.
type modelRepo struct {
	e         *env
	device    string
	precision deit.Precision
	threads   int
	log       *slog.Logger

	single *modelFlags // --model
	name   string      // its name
	dir    string      // --model-repository
}

// Models implements server.Repository: the single model's name, or the
// repository's sub-directories (read anew each time, so that a model
// copied in later can be loaded), hidden ones left out.
func (r *modelRepo) Models() ([]string, error) {
	if r.dir == "" {
		return []string{r.name}, nil
	}
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("--model-repository: %w", err)
	}
	var names []string
	for _, d := range entries {
		if strings.HasPrefix(d.Name(), ".") {
			continue
		}
		if d.IsDir() || d.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(r.dir, d.Name())); err == nil && fi.IsDir() {
				names = append(names, d.Name())
			}
		}
	}
	return names, nil // os.ReadDir sorts by name
}

// Load implements server.Repository: it loads the model as --model does
// (the notes go to the log) and builds its engine on --device.
func (r *modelRepo) Load(ctx context.Context, name string, maxBatch int) (*deit.Model, engine.Engine, error) {
	mf := r.single
	if r.dir != "" {
		mf = &modelFlags{arg: filepath.Join(r.dir, name)}
	}
	m, err := loadModel(ctx, r.e, mf, true)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range m.Notes {
		r.log.Info("model note", "model", name, "note", n)
	}
	eng, err := openEngineFor(r.e, m, engineRequest{device: r.device, prec: r.precision, maxBatch: maxBatch, threads: r.threads}, true)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", mf.arg, err)
	}
	r.log.Info("engine ready", "model", name, "from", mf.arg, "engine", eng.Name(), "precision", eng.Arithmetic(), "engine_max_batch", eng.MaxBatch())
	return m, eng, nil
}

// servedName is the model name `vkdeit serve` answers to when --name is not
// given, from its --model argument: a Hub repo id's name without owner or
// revision ("facebook/deit-small-patch16-224@main" →
// "deit-small-patch16-224"), a directory's base name, or a weights file's
// directory's base name. It is "deit" when nothing usable remains.
func servedName(model string) string {
	if model == "" {
		model = hub.DefaultModel
	}
	p := model
	if hub.IsRepoID(p) {
		p, _, _ = strings.Cut(p, "@")
	}
	p = filepath.Clean(p)
	switch strings.ToLower(filepath.Ext(p)) {
	case ".safetensors", ".bin", ".pth", ".pt", ".json":
		p = filepath.Dir(p)
	}
	name := filepath.Base(p)
	if name == "" || name == "." || name == "/" || name == ".." || strings.ContainsAny(name, "/\\") {
		return "deit"
	}
	return name
}
