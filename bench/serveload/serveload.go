// Package serveload measures the inference server under load: it serves a
// caller's engine with server.Server on loopback, drives it with
// closed-loop clients over REST (JSON and binary tensors) and gRPC, and
// reports images per second and request latency percentiles per protocol
// and concurrency, beside the same engine measured alone by bench.Run in
// the same run. It is what `vkdeit bench serve` prints.
package serveload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vkdeit/vkdeit/bench"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/server"
	"github.com/vkdeit/vkdeit/server/inference"
)

// The load generators' protocols.
const (
	REST       = "rest"        // REST, JSON pixel_values, JSON logits
	RESTBinary = "rest-binary" // REST, binary tensor data both ways
	GRPC       = "grpc"        // gRPC, raw_input_contents
)

// Protocols lists the load generators Run knows, in its default order.
func Protocols() []string { return []string{REST, RESTBinary, GRPC} }

// The Open Inference Protocol's names the clients use (the server's input,
// and Triton's binary tensor data extension).
const (
	modelName         = "bench"
	inputPixels       = "pixel_values"
	typeFP32          = "FP32"
	paramBinarySize   = "binary_data_size"
	paramBinaryOutput = "binary_data_output"
	headerJSONLength  = "Inference-Header-Content-Length"
)

// engineIters bounds the timed passes of each engine-alone measurement,
// and so the memory of its latencies (8 bytes each, 800 kB).
const engineIters = 100_000

// Options configure Run.
type Options struct {
	// Clients are the concurrency levels, each a set of closed-loop clients
	// sending one image per request (default 1, 8, 64).
	Clients []int
	// Protocols are the load generators (default Protocols()).
	Protocols []string
	// Duration is how long each level runs (default 3s), after a short
	// warm-up; the engine alone is measured as long at each of its two
	// batch sizes.
	Duration time.Duration
	// ModelName describes the model in the report.
	ModelName string
	// Server configures the in-process server (batching, queue, workers);
	// its name, addresses and logger are Run's.
	Server server.Options
}

// Level is one protocol at one concurrency.
type Level struct {
	Protocol string
	Clients  int
	Requests int // answered with 200 / OK
	Errors   int // anything else
	// Throughput is images answered per second.
	Throughput float64
	// Latency summarizes request latencies as the clients saw them, in
	// milliseconds (bench's statistics and percentile).
	Latency bench.Stats
	// MeanBatch is images per engine call during the level, from the
	// server's /metrics.
	MeanBatch float64
}

// Report is what Run measured.
type Report struct {
	// MaxBatch and MaxDelay are the server's, its defaults applied and
	// MaxBatch lowered to the engine's.
	MaxBatch int
	MaxDelay time.Duration
	// Engine is the engine alone, measured by bench.Run at batch 1 and at
	// MaxBatch on the same model: the run's date, commit and host, and one
	// path whose batches give the single-image latency and the
	// throughput the server is compared with.
	Engine *bench.Report
	Levels []Level
}

// EngineThroughput is images per second of the engine alone at MaxBatch.
func (r *Report) EngineThroughput() float64 { return r.Engine.Find(enginePath, r.MaxBatch).ImgPerSec }

// EngineLatency is the engine alone's median latency for one image, in
// milliseconds.
func (r *Report) EngineLatency() float64 { return r.Engine.Find(enginePath, 1).Latency.P50 }

// enginePath names the engine alone in Report.Engine.
const enginePath = "engine"

// Run measures the server against the bare engine in one run: the
// engine's single-image latency and its throughput at the server's max
// batch, then, on a server listening on loopback, throughput and latency
// for each protocol at each concurrency. Inputs are random preprocessed
// images. The engine stays the caller's: Run does not close it.
func Run(ctx context.Context, m *deit.Model, e engine.Engine, opts Options) (*Report, error) {
	if len(opts.Clients) == 0 {
		opts.Clients = []int{1, 8, 64}
	}
	for _, c := range opts.Clients {
		if c < 1 {
			return nil, fmt.Errorf("serveload: %d clients, want at least 1", c)
		}
	}
	if len(opts.Protocols) == 0 {
		opts.Protocols = Protocols()
	}
	for _, p := range opts.Protocols {
		if !slices.Contains(Protocols(), p) {
			return nil, fmt.Errorf("serveload: unknown protocol %q (want %s)", p, strings.Join(Protocols(), ", "))
		}
	}
	if opts.Duration <= 0 {
		opts.Duration = 3 * time.Second
	}
	so := opts.Server
	so.Name, so.Logger = modelName, slog.New(slog.DiscardHandler)
	so.HTTPAddr, so.GRPCAddr = "", "" // Run serves on listeners of its own
	if so.MaxQueue == 0 {
		so.MaxQueue = max(2*slices.Max(opts.Clients), 64)
	}
	s, err := server.New(m, e, so)
	if err != nil {
		return nil, fmt.Errorf("serveload: %w", err)
	}
	so = s.Options()
	rep := &Report{MaxBatch: so.MaxBatch, MaxDelay: so.MaxDelay}
	if rep.Engine, err = measureEngine(ctx, m, e, opts.ModelName, so.MaxBatch, opts.Duration); err != nil {
		return nil, err
	}

	lg, stop, err := start(s, m.Config)
	if err != nil {
		return nil, err
	}
	defer stop()
	for _, p := range opts.Protocols {
		for _, c := range opts.Clients {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if _, err := lg.run(ctx, p, c, min(opts.Duration/10, 200*time.Millisecond), 0); err != nil { // warm-up
				return nil, err
			}
			l, err := lg.run(ctx, p, c, opts.Duration, 0)
			if err != nil {
				return nil, err
			}
			if l.Requests == 0 {
				return nil, fmt.Errorf("serveload: %s with %d clients: no request succeeded (%d failed: %v)", p, c, l.Errors, lg.lastErr())
			}
			rep.Levels = append(rep.Levels, l)
		}
	}
	return rep, nil
}

// measureEngine times e alone with bench.Run at batch 1 and at maxBatch,
// for about d each. The bound is at least minEngineTime: a short load test
// on a busy machine must still measure the baseline it is compared with.
func measureEngine(ctx context.Context, m *deit.Model, e engine.Engine, name string, maxBatch int, d time.Duration) (*bench.Report, error) {
	r, err := bench.Run(ctx, bench.Options{Model: m, ModelName: name, Warmup: 3, Iters: engineIters, MaxTime: max(2*d, minEngineTime), Seed: 1,
		Targets: []bench.Target{{Path: enginePath, Batches: []int{1, maxBatch},
			Open: func(int) (engine.Engine, error) { return callersEngine{e}, nil }}}})
	if err != nil {
		return nil, fmt.Errorf("serveload: engine alone: %w", err)
	}
	for _, b := range []int{1, maxBatch} {
		if r.Find(enginePath, b) == nil {
			return nil, fmt.Errorf("serveload: engine alone: batch %d not measured: %s", b, strings.Join(r.Notes, "; "))
		}
	}
	return r, nil
}

// minEngineTime is the least time the engine-alone baseline may take.
const minEngineTime = 5 * time.Second

// callersEngine lends the caller's engine to bench.Run, which closes the
// engines it opens.
type callersEngine struct{ engine.Engine }

func (callersEngine) Close() error { return nil }

// loadGen sends requests to a server on loopback.
type loadGen struct {
	cfg        deit.Config
	url        string // the model's infer endpoint
	metricsURL string
	http       *http.Client
	grpc       inference.GRPCInferenceServiceClient
	errMu      sync.Mutex
	errLast    error
}

// start serves s on loopback and connects a load generator for a model
// of configuration cfg.
func start(s *server.Server, cfg deit.Config) (*loadGen, func(), error) {
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("serveload: %w", err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hl.Close()
		return nil, nil, fmt.Errorf("serveload: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, hl, gl) }()
	// The server turns ready once warm (every batch size run once).
	for !s.Ready() {
		select {
		case err := <-done:
			cancel()
			return nil, nil, fmt.Errorf("serveload: %w", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		<-done
		return nil, nil, fmt.Errorf("serveload: %w", err)
	}
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	base := "http://" + hl.Addr().String()
	lg := &loadGen{cfg: cfg, url: base + "/v2/models/" + modelName + "/infer", metricsURL: base + "/metrics",
		http: &http.Client{Transport: tr}, grpc: inference.NewGRPCInferenceServiceClient(conn)}
	stop := func() {
		conn.Close()
		tr.CloseIdleConnections()
		cancel()
		<-done
	}
	return lg, stop, nil
}

func (lg *loadGen) lastErr() error {
	lg.errMu.Lock()
	defer lg.errMu.Unlock()
	return lg.errLast
}

// run drives closed-loop clients for d (or, when count > 0, until count
// requests have been sent in all) and measures them. Its error is the
// server's /metrics failing to answer.
func (lg *loadGen) run(ctx context.Context, protocol string, clients int, d time.Duration, count int) (Level, error) {
	l := Level{Protocol: protocol, Clients: clients}
	img0, batch0, err := lg.engineCounts(ctx)
	if err != nil {
		return l, err
	}
	var sent atomic.Int64
	lat := make([][]time.Duration, clients)
	errs := make([]int, clients)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := range clients {
		send := lg.sender(protocol, c)
		wg.Go(func() {
			for ctx.Err() == nil {
				if count > 0 {
					if sent.Add(1) > int64(count) {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				t := time.Now()
				if err := send(ctx); err != nil {
					errs[c]++
					lg.errMu.Lock()
					lg.errLast = err
					lg.errMu.Unlock()
					continue
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	var all []time.Duration
	for c := range clients {
		all = append(all, lat[c]...)
		l.Errors += errs[c]
	}
	l.Requests = len(all)
	l.Throughput = float64(l.Requests) / elapsed.Seconds()
	l.Latency = bench.Summarize(all)
	img1, batch1, err := lg.engineCounts(ctx)
	if err != nil {
		return l, err
	}
	if batch1 > batch0 {
		l.MeanBatch = (img1 - img0) / (batch1 - batch0)
	}
	return l, nil
}

// engineCounts reads the images and batches the engine has run from the
// server's Prometheus metrics.
func (lg *loadGen) engineCounts(ctx context.Context) (images, batches float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, lg.metricsURL, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("serveload: metrics: %w", err)
	}
	resp, err := lg.http.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("serveload: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("serveload: metrics: status %d", resp.StatusCode)
	}
	want := map[string]*float64{"vkdeit_inference_images_total": &images, "vkdeit_inference_batches_total": &batches}
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		name, _, _ = strings.Cut(name, "{") // the series of the one model served
		p := want[name]
		if !ok || p == nil {
			continue
		}
		if *p, err = strconv.ParseFloat(strings.TrimSpace(value), 64); err != nil {
			return 0, 0, fmt.Errorf("serveload: metrics: %s: %w", name, err)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("serveload: metrics: %w", err)
	}
	if found != len(want) {
		return 0, 0, errors.New("serveload: metrics: no vkdeit_inference_images_total or vkdeit_inference_batches_total")
	}
	return images, batches, nil
}

// sender returns client c's request function for a protocol: one image
// of its own, encoded once.
func (lg *loadGen) sender(protocol string, c int) func(context.Context) error {
	cfg := lg.cfg
	px := deit.RandomPixels(cfg, 1, int64(c)+100)
	raw, _ := binary.Append(nil, binary.LittleEndian, px) // cannot fail for a []float32
	shape := []int{1, cfg.Channels, cfg.ImageSize, cfg.ImageSize}
	switch protocol {
	case GRPC:
		req := &inference.ModelInferRequest{ModelName: modelName,
			Inputs: []*inference.ModelInferRequest_InferInputTensor{{Name: inputPixels, Datatype: typeFP32,
				Shape: []int64{1, int64(cfg.Channels), int64(cfg.ImageSize), int64(cfg.ImageSize)}}},
			RawInputContents: [][]byte{raw}}
		return func(ctx context.Context) error {
			resp, err := lg.grpc.ModelInfer(ctx, req)
			if err == nil && len(resp.GetRawOutputContents()) != 1 {
				err = errors.New("no raw output")
			}
			return err
		}
	case RESTBinary:
		js, _ := json.Marshal(map[string]any{
			"inputs": []any{map[string]any{"name": inputPixels, "datatype": typeFP32, "shape": shape,
				"parameters": map[string]any{paramBinarySize: len(raw)}}},
			"parameters": map[string]any{paramBinaryOutput: true},
		})
		body := append(js, raw...)
		h := http.Header{headerJSONLength: {strconv.Itoa(len(js))}, "Content-Type": {"application/octet-stream"}}
		return func(ctx context.Context) error { return lg.post(ctx, h, body) }
	default:
		body, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{
			"name": inputPixels, "datatype": typeFP32, "shape": shape, "data": px}}})
		h := http.Header{"Content-Type": {"application/json"}}
		return func(ctx context.Context) error { return lg.post(ctx, h, body) }
	}
}

// post sends one REST request and reads the whole answer.
func (lg *loadGen) post(ctx context.Context, h http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, lg.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = h.Clone()
	resp, err := lg.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// WriteText writes the report as a table, with each level's throughput as
// a share of the engine's and its median latency over the engine's for
// one image.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	p := r.Engine.Paths[0]
	if r.Engine.Model != "" {
		fmt.Fprintf(&b, "model: %s\n", r.Engine.Model)
	}
	fmt.Fprintf(&b, "engine: %s [%s], max batch %d, max delay %v; %s\n", p.Label, p.Arithmetic, r.MaxBatch, r.MaxDelay, r.Engine.Host)
	fmt.Fprintf(&b, "engine alone: %.1f images/s at batch %d; one image p50 %.3f ms\n\n", r.EngineThroughput(), r.MaxBatch, r.EngineLatency())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "protocol\tclients\trequests\terrors\timages/s\tof engine\tp50 ms\tp99 ms\tp50 - engine ms\tmean batch\t")
	for _, l := range r.Levels {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.0f%%\t%.3f\t%.3f\t%.3f\t%.2f\t\n", l.Protocol, l.Clients, l.Requests, l.Errors,
			l.Throughput, 100*l.Throughput/r.EngineThroughput(), l.Latency.P50, l.Latency.P99,
			l.Latency.P50-r.EngineLatency(), l.MeanBatch)
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}
