package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/vkdeit/vkdeit/deit"

	"github.com/vkdeit/vkdeit/internal/version"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/server"
)

const serveSynopsis = `serve [flags]

Serves one model over the Open Inference Protocol (KServe v2): REST on
--http (default :8080: /v2/..., /classify, /metrics, health) and gRPC on
--grpc (default :8081, inference.GRPCInferenceService). Requests from every
client and both protocols share one queue and are batched dynamically (up to
--max-batch images, waiting at most --max-delay for a batch to fill). On
SIGTERM or SIGINT readiness turns false, new requests are refused, every
accepted request is answered (within --drain-timeout), and vkdeit exits 0.
Logs are JSON lines on stderr (--log-format text for people).`

const serveExamples = `  vkdeit serve --model facebook/deit-small-distilled-patch16-224
  vkdeit serve --model ~/models/deit-tiny --device cpu --max-batch 16 --max-delay 2ms
  curl -s --data-binary @cat.jpg 'localhost:8080/classify?top_k=3'
  curl -s localhost:8080/v2/models/deit-small-distilled-patch16-224
  grpcurl -plaintext localhost:8081 inference.GRPCInferenceService/ServerReady
`

// serveConfig is what serve's command line asks for.
type serveConfig struct {
	model     *modelFlags
	device    string
	precision deit.Precision
	opts      server.Options // every server flag, the decode options, the logger and the name
}

// parseServe parses serve's flags: the engine's, the server's
// (server.Options.AddFlags, --workers among them), image decoding's and
// logging's, each registered once.
func parseServe(e *env, args []string) (*serveConfig, error) {
	fs := newFlagSet(e, "serve", serveSynopsis, serveExamples)
	model := modelFlag(fs)
	device := fs.StringP("device", "d", "auto", deviceHelp)
	var prec deit.Precision
	precisionFlag(fs, &prec)
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
	decode, err := df.options("serve")
	if err != nil {
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
	return &serveConfig{model: model, device: *device, precision: prec, opts: opts}, nil
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
	model, opts := c.model, c.opts
	m, err := loadModel(ctx, e, model, true)
	if err != nil {
		return err
	}
	for _, n := range m.Notes {
		opts.Logger.Info("model note", "note", n)
	}
	eng, err := openEngine(e, m, c.device, c.precision, opts.MaxBatch, true)
	if err != nil {
		return err
	}
	defer eng.Close()
	// The engine may have been built for fewer images than asked (a GPU
	// short of memory); the server lowers its max batch to match.
	opts.Logger.Info("engine ready", "engine", eng.Name(), "precision", eng.Arithmetic(), "model", model.arg, "name", opts.Name, "engine_max_batch", eng.MaxBatch())
	s, err := server.New(m, eng, opts)
	if err != nil {
		return err
	}
	// The decoders' budget bounds the process too, once the model and
	// engine are in memory.
	opts.Decode.Budget.LimitProcessMemory()
	// A signal starts the drain; the process waits for it (plus a margin)
	// before it ends the command by force.
	e.setGrace(s.DrainTimeout() + 5*time.Second)
	// A drain cut short at its timeout is still a clean stop (the server
	// logged it): exit 0.
	if err := s.Run(ctx); err != nil && !errors.Is(err, server.ErrDrainCutShort) {
		return fmt.Errorf("serve: %w", err)
	}
	if ctx.Err() != nil {
		return errShutDown
	}
	return nil
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
