package server

import (
	"runtime"
	"strconv"

	"github.com/spf13/pflag"
)

// AddFlags registers the server's command-line flags on fs (GNU style,
// github.com/spf13/pflag, as the vkdeit CLI parses them), each writing
// into o, with the defaults `vkdeit serve` documents (and that
// deploy/servingruntime.yaml relies on):
//
//	--name NAME                 model name in URLs (default: the caller's; `vkdeit serve` derives it from --model)
//	--http ADDR, --grpc ADDR    listen addresses (:8080, :8081; "off" disables one)
//	--max-batch N               images per engine call (8; the engine is built for it)
//	--max-delay DURATION        how long a partial batch may wait (0)
//	--max-queue N               images waiting before 429 (0: 16 × max batch, at least 64)
//	--timeout DURATION          per request (30s)
//	--workers N                 image decoders (GOMAXPROCS)
//	--max-request-bytes N       body / message limit (0: derived from max batch and image size)
//	--drain-timeout DURATION    graceful shutdown bound (25s)
//
// Fields already set in o are the flags' defaults. fs must not define
// these names already (pflag panics on a flag defined twice). The engine
// flags (--model, --device, --precision) and the image decoding options
// (Options.Decode) are the caller's; --workers, decoding's parallelism,
// is the server's. The caller builds the engine for o.MaxBatch images,
// and New lowers o.MaxBatch to the engine's MaxBatch should a GPU short
// of memory have built it for fewer.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 8
	}
	fs.StringVar(&o.Name, "name", o.Name, "model name in URLs and gRPC requests (default: the model's repo or directory base name)")
	fs.StringVar(&o.HTTPAddr, "http", def(o.HTTPAddr, DefaultHTTPAddr), `HTTP/REST listen address (REST, /classify, /metrics, health); "off" disables it`)
	fs.StringVar(&o.GRPCAddr, "grpc", def(o.GRPCAddr, DefaultGRPCAddr), `gRPC listen address; "off" disables it`)
	fs.IntVar(&o.MaxBatch, "max-batch", o.MaxBatch, "most images per engine call")
	fs.DurationVar(&o.MaxDelay, "max-delay", o.MaxDelay, "how long the oldest queued request may wait for a batch to fill")
	fs.IntVar(&o.MaxQueue, "max-queue", o.MaxQueue, "images waiting (decoding or queued) before requests are refused with 429 (0: 16 × max batch, at least 64)")
	fs.DurationVar(&o.Timeout, "timeout", max(o.Timeout, 0), "bound on each inference request (0: 30s)")
	fs.IntVar(&o.Workers, "workers", max(o.Workers, 0), "images decoded and preprocessed in parallel (0: GOMAXPROCS, "+strconv.Itoa(runtime.GOMAXPROCS(0))+" here)")
	fs.Int64Var(&o.MaxRequestBytes, "max-request-bytes", o.MaxRequestBytes, "largest request body or gRPC message (0: a JSON request of max-batch images, at least 32 MiB)")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "bound on graceful shutdown (0: 25s)")
}
