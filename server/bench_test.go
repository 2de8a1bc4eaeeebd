package server

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
)

var (
	benchPreset = flag.String("serve.preset", "", "BenchmarkServe: a deit.Preset with random weights instead of the tiny fixture (e.g. small-distilled)")
	benchBatch  = flag.Int("serve.batch", 8, "BenchmarkServe: max batch")
	benchDelay  = flag.Duration("serve.delay", 0, "BenchmarkServe: max delay")
)

func TestBench(t *testing.T) {
	m := tinyModel(t)
	rep, err := Bench(t.Context(), m, refEngine(t, m, 4), BenchOptions{Clients: []int{1, 4}, Duration: 100 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, 4, rep.MaxBatch)
	require.Positive(t, rep.EngineThroughput)
	require.Positive(t, rep.EngineLatency)
	require.Len(t, rep.Results, 6)
	for _, r := range rep.Results {
		require.Zero(t, r.Errors, "%+v", r)
		require.Positive(t, r.Requests, "%+v", r)
		require.LessOrEqual(t, r.P50, r.P99)
		require.GreaterOrEqual(t, r.MeanBatch, 1.0)
		require.LessOrEqual(t, r.MeanBatch, 4.0)
	}
	var out strings.Builder
	require.NoError(t, rep.Format(&out))
	require.Contains(t, out.String(), "engine alone:")
	require.Contains(t, out.String(), "rest-binary")
	_, err = Bench(t.Context(), m, refEngine(t, m, 4), BenchOptions{Protocols: []string{"soap"}})
	require.ErrorContains(t, err, `unknown protocol "soap"`)
}

// benchModel is the tiny fixture, or -serve.preset with random weights.
func benchModel(b *testing.B) *deit.Model {
	if *benchPreset == "" {
		return tinyModel(b)
	}
	cfg, err := deit.Preset(*benchPreset)
	require.NoError(b, err)
	return &deit.Model{Config: cfg, Weights: deit.RandomWeights(cfg, 1)}
}

// BenchmarkServe measures each protocol at 1, 8 and 64 clients (b.N
// single-image requests in all), beside the engine alone at the same max
// batch: images/s, p50 and p99 in µs, and the mean batch.
//
//	go test ./server -run '^$' -bench Serve -benchtime 2000x
//	go test ./server -run '^$' -bench Serve -benchtime 16x -serve.preset small-distilled
func BenchmarkServe(b *testing.B) {
	m := benchModel(b)
	eng := refEngine(b, m, *benchBatch)
	b.Run(fmt.Sprintf("engine/batch=%d", *benchBatch), func(b *testing.B) {
		px := deit.RandomPixels(m.Config, *benchBatch, 1)
		b.ResetTimer()
		for range b.N {
			if _, err := eng.Forward(b.Context(), px, *benchBatch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N**benchBatch)/b.Elapsed().Seconds(), "img/s")
	})
	b.Run("engine/batch=1", func(b *testing.B) {
		px := deit.RandomPixels(m.Config, 1, 1)
		b.ResetTimer()
		for range b.N {
			if _, err := eng.Forward(b.Context(), px, 1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/img")
	})
	s, err := New(m, eng, Options{Name: "bench", MaxBatch: *benchBatch, MaxDelay: *benchDelay, MaxQueue: 256, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	lg, stop, err := startBenchServer(s)
	require.NoError(b, err)
	defer stop()
	for _, p := range []string{BenchREST, BenchRESTBinary, BenchGRPC} {
		for _, c := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", p, c), func(b *testing.B) {
				lg.run(b.Context(), p, c, 0, c) // one request per client to connect
				b.ResetTimer()
				r := lg.run(b.Context(), p, c, 0, b.N)
				if r.Errors > 0 {
					b.Fatalf("%d errors: %v", r.Errors, lg.lastErr())
				}
				b.ReportMetric(r.Throughput, "img/s")
				b.ReportMetric(float64(r.P50.Microseconds()), "p50-µs")
				b.ReportMetric(float64(r.P99.Microseconds()), "p99-µs")
				b.ReportMetric(r.MeanBatch, "batch")
			})
		}
	}
}
