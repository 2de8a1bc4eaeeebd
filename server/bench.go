package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/internal/stats"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/server/inference"
)

// Load generator protocols for Bench.
const (
	BenchREST       = "rest"        // REST, JSON pixel_values, JSON logits
	BenchRESTBinary = "rest-binary" // REST, binary tensor data both ways
	BenchGRPC       = "grpc"        // gRPC, raw_input_contents
)

// BenchProtocols lists the load generators Bench knows, in its default order.
func BenchProtocols() []string { return []string{BenchREST, BenchRESTBinary, BenchGRPC} }

// BenchOptions configure Bench.
type BenchOptions struct {
	// Clients are the concurrency levels, each a set of closed-loop clients
	// sending one image per request (default 1, 8, 64).
	Clients []int
	// Protocols are the load generators (default BenchREST,
	// BenchRESTBinary, BenchGRPC).
	Protocols []string
	// Duration is how long each level runs (default 3s), after a short
	// warm-up; the engine's own throughput is measured as long.
	Duration time.Duration
	// Server configures the in-process server (batching, queue, workers);
	// its addresses and logger are ignored.
	Server Options
}

// BenchResult is one protocol at one concurrency.
type BenchResult struct {
	Protocol string
	Clients  int
	Requests int // answered with 200 / OK
	Errors   int // anything else
	// Throughput is images answered per second.
	Throughput float64
	// P50 and P99 are request latencies as the clients saw them.
	P50, P99 time.Duration
	// MeanBatch is images per engine call during the level.
	MeanBatch float64
}

// BenchReport is what Bench measured.
type BenchReport struct {
	Engine   string
	MaxBatch int
	MaxDelay time.Duration
	Procs    int // GOMAXPROCS
	// EngineThroughput is images per second of direct Engine.Forward calls
	// at MaxBatch; EngineLatency the median direct Forward of one image.
	EngineThroughput float64
	EngineLatency    time.Duration
	Results          []BenchResult
}

// Bench measures the server against the bare engine in one run: the
// engine's throughput at the server's max batch and its single-image
// latency, then, on a server listening on loopback, throughput and
// latency percentiles for each protocol at each concurrency. Inputs are
// random preprocessed images. It is what `vkdeit bench serve` prints;
// the engine stays the caller's.
func Bench(ctx context.Context, m *deit.Model, e engine.Engine, opts BenchOptions) (*BenchReport, error) {
	if len(opts.Clients) == 0 {
		opts.Clients = []int{1, 8, 64}
	}
	if len(opts.Protocols) == 0 {
		opts.Protocols = BenchProtocols()
	}
	for _, p := range opts.Protocols {
		if !slices.Contains(BenchProtocols(), p) {
			return nil, fmt.Errorf("server: bench: unknown protocol %q (want %s, %s or %s)", p, BenchREST, BenchRESTBinary, BenchGRPC)
		}
	}
	if opts.Duration <= 0 {
		opts.Duration = 3 * time.Second
	}
	so := opts.Server
	so.Name, so.Logger = "bench", slog.New(slog.DiscardHandler)
	if so.MaxQueue == 0 {
		so.MaxQueue = max(2*slices.Max(opts.Clients), 64)
	}
	s, err := New(m, e, so)
	if err != nil {
		return nil, fmt.Errorf("server: bench: %w", err)
	}
	rep := &BenchReport{Engine: e.Name(), MaxBatch: s.opts.MaxBatch, MaxDelay: s.opts.MaxDelay, Procs: runtime.GOMAXPROCS(0)}
	if err := benchEngine(ctx, e, s.opts.MaxBatch, s.pixelCount(1), opts.Duration, rep); err != nil {
		return nil, err
	}

	lg, stop, err := startBenchServer(s)
	if err != nil {
		return nil, err
	}
	defer stop()
	for _, p := range opts.Protocols {
		for _, c := range opts.Clients {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			lg.run(ctx, p, c, min(opts.Duration/10, 200*time.Millisecond), 0) // warm-up
			r := lg.run(ctx, p, c, opts.Duration, 0)
			if r.Requests == 0 {
				return rep, fmt.Errorf("server: bench: %s with %d clients: no request succeeded (%d failed: %v)", p, c, r.Errors, lg.lastErr())
			}
			rep.Results = append(rep.Results, r)
		}
	}
	return rep, nil
}

// benchEngine measures the bare engine into rep.
func benchEngine(ctx context.Context, e engine.Engine, B, per int, d time.Duration, rep *BenchReport) error {
	px := deit.RandomPixels(e.Config(), B, 1)
	if _, err := e.Forward(ctx, px, B); err != nil { // warm-up
		return fmt.Errorf("server: bench: engine: %w", err)
	}
	n, t0 := 0, time.Now()
	for n < 3 || time.Since(t0) < d {
		if _, err := e.Forward(ctx, px, B); err != nil {
			return fmt.Errorf("server: bench: engine: %w", err)
		}
		n++
	}
	rep.EngineThroughput = float64(n*B) / time.Since(t0).Seconds()
	var lat []time.Duration
	for t1 := time.Now(); len(lat) < 5 || (time.Since(t1) < d/2 && len(lat) < 1000); {
		t := time.Now()
		if _, err := e.Forward(ctx, px[:per], 1); err != nil {
			return fmt.Errorf("server: bench: engine: %w", err)
		}
		lat = append(lat, time.Since(t))
	}
	rep.EngineLatency = stats.DurationPercentile(lat, 50)
	return nil
}

// loadGen sends requests to a server on loopback.
type loadGen struct {
	s       *Server
	url     string
	http    *http.Client
	grpc    inference.GRPCInferenceServiceClient
	per     int
	errMu   sync.Mutex
	errLast error
}

// startBenchServer serves s on loopback and connects a load generator.
func startBenchServer(s *Server) (*loadGen, func(), error) {
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("server: bench: %w", err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hl.Close()
		return nil, nil, fmt.Errorf("server: bench: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, hl, gl) }()
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		<-done
		return nil, nil, fmt.Errorf("server: bench: %w", err)
	}
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	lg := &loadGen{s: s, url: "http://" + hl.Addr().String() + "/v2/models/bench/infer",
		http: &http.Client{Transport: tr}, grpc: inference.NewGRPCInferenceServiceClient(conn), per: s.pixelCount(1)}
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

// run drives closed-loop clients for d (or, when count > 0, until
// count requests have been sent in all) and measures them.
func (lg *loadGen) run(ctx context.Context, protocol string, clients int, d time.Duration, count int) BenchResult {
	r := BenchResult{Protocol: protocol, Clients: clients}
	img0, batch0 := lg.s.b.images.Load(), lg.s.b.batches.Load()
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
		r.Errors += errs[c]
	}
	r.Requests = len(all)
	r.Throughput = float64(r.Requests) / elapsed.Seconds()
	r.P50, r.P99 = stats.DurationPercentile(all, 50), stats.DurationPercentile(all, 99)
	if nb := lg.s.b.batches.Load() - batch0; nb > 0 {
		r.MeanBatch = float64(lg.s.b.images.Load()-img0) / float64(nb)
	}
	return r
}

// sender returns client c's request function for a protocol: one image
// of its own, encoded once.
func (lg *loadGen) sender(protocol string, c int) func(context.Context) error {
	cfg := lg.s.cfg
	px := deit.RandomPixels(cfg, 1, int64(c)+100)
	shape := []int{1, cfg.Channels, cfg.ImageSize, cfg.ImageSize}
	switch protocol {
	case BenchGRPC:
		req := &inference.ModelInferRequest{ModelName: "bench",
			Inputs: []*inference.ModelInferRequest_InferInputTensor{{Name: inputPixels, Datatype: typeFP32,
				Shape: []int64{1, int64(cfg.Channels), int64(cfg.ImageSize), int64(cfg.ImageSize)}}},
			RawInputContents: [][]byte{appendFP32(nil, px)}}
		return func(ctx context.Context) error {
			resp, err := lg.grpc.ModelInfer(ctx, req)
			if err == nil && len(resp.GetRawOutputContents()) != 1 {
				err = errors.New("no raw output")
			}
			return err
		}
	case BenchRESTBinary:
		js, _ := json.Marshal(map[string]any{
			"inputs": []any{map[string]any{"name": inputPixels, "datatype": typeFP32, "shape": shape,
				"parameters": map[string]any{paramBinarySize: 4 * len(px)}}},
			"parameters": map[string]any{paramBinaryOutput: true},
		})
		body := append(js, appendFP32(nil, px)...)
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

// Format writes the report as a table, with each level's throughput as a
// share of the engine's and its median latency over a direct Forward.
func (r *BenchReport) Format(w io.Writer) error {
	fmt.Fprintf(w, "engine: %s, max batch %d, max delay %v, GOMAXPROCS %d\n", r.Engine, r.MaxBatch, r.MaxDelay, r.Procs)
	fmt.Fprintf(w, "engine alone: %.1f images/s at batch %d; one image %v\n\n", r.EngineThroughput, r.MaxBatch, r.EngineLatency.Round(time.Microsecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "protocol\tclients\trequests\terrors\timages/s\tof engine\tp50\tp99\tp50 - engine\tmean batch\t")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.0f%%\t%v\t%v\t%v\t%.2f\t\n", x.Protocol, x.Clients, x.Requests, x.Errors,
			x.Throughput, 100*x.Throughput/r.EngineThroughput, x.P50.Round(time.Microsecond), x.P99.Round(time.Microsecond),
			(x.P50 - r.EngineLatency).Round(time.Microsecond), x.MeanBatch)
	}
	return tw.Flush()
}
