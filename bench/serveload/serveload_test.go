package serveload

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/internal/fixture/fixturemodel"
	"github.com/vkdeit/vkdeit/server"
)

var (
	benchPreset = flag.String("serve.preset", "", "BenchmarkServe: a deit.Preset with random weights instead of the tiny fixture (e.g. small-distilled)")
	benchBatch  = flag.Int("serve.batch", 8, "BenchmarkServe: max batch")
	benchDelay  = flag.Duration("serve.delay", 0, "BenchmarkServe: max delay")
)

// tinyModel is the committed tiny distilled fixture.
func tinyModel(t testing.TB) *deit.Model { return fixturemodel.Tiny(t) }

// refEngine is the float64 reference engine for m.
func refEngine(t testing.TB, m *deit.Model, maxBatch int) engine.Engine {
	t.Helper()
	e, err := engine.New(m, engine.Options{Device: "ref", MaxBatch: maxBatch, Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

func TestRun(t *testing.T) {
	m := tinyModel(t)
	e := refEngine(t, m, 4)
	// A max batch above the engine's is the server's to lower.
	rep, err := Run(t.Context(), m, e, Options{Clients: []int{1, 4}, Duration: 100 * time.Millisecond, ModelName: "tiny",
		Server: server.Options{MaxBatch: 16}})
	require.NoError(t, err)
	require.Equal(t, 4, rep.MaxBatch)
	require.Positive(t, rep.EngineThroughput())
	require.Positive(t, rep.EngineLatency())
	require.Equal(t, "tiny", rep.Engine.Model)
	require.Len(t, rep.Engine.Paths, 1)
	for _, br := range rep.Engine.Paths[0].Batches {
		require.Contains(t, []int{1, 4}, br.Batch)
		require.GreaterOrEqual(t, br.Latency.N, 1)
	}
	require.Len(t, rep.Levels, 6)
	for i, l := range rep.Levels {
		require.Equal(t, Protocols()[i/2], l.Protocol)
		require.Equal(t, []int{1, 4}[i%2], l.Clients)
		require.Zero(t, l.Errors, "%+v", l)
		require.Positive(t, l.Requests, "%+v", l)
		require.Equal(t, l.Requests, l.Latency.N, "every answered request is a latency sample")
		require.LessOrEqual(t, l.Latency.P50, l.Latency.P99)
		require.GreaterOrEqual(t, l.MeanBatch, 1.0)
		require.LessOrEqual(t, l.MeanBatch, 4.0)
		if l.Clients == 1 {
			require.Equal(t, 1.0, l.MeanBatch, "one closed-loop client never has two images queued")
		}
	}
	var out strings.Builder
	require.NoError(t, rep.WriteText(&out))
	require.Contains(t, out.String(), "model: tiny\n")
	require.Contains(t, out.String(), "engine alone:")
	require.Contains(t, out.String(), "at batch 4;")
	require.Contains(t, out.String(), "rest-binary")
	_, err = Run(t.Context(), m, e, Options{Protocols: []string{"soap"}})
	require.ErrorContains(t, err, `unknown protocol "soap"`)
	_, err = Run(t.Context(), m, e, Options{Clients: []int{0}})
	require.ErrorContains(t, err, "0 clients")
	_, err = Run(t.Context(), m, e, Options{Server: server.Options{Name: "x", GRPCAddr: server.Off, HTTPAddr: server.Off, MaxQueue: 2}})
	require.ErrorContains(t, err, "serveload: server: max queue 2 is less than max batch 4")
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
//	go test ./bench/serveload -run '^$' -bench Serve -benchtime 2000x
//	go test ./bench/serveload -run '^$' -bench Serve -benchtime 16x -serve.preset small-distilled
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
	s, err := server.New(m, eng, server.Options{Name: modelName, MaxBatch: *benchBatch, MaxDelay: *benchDelay, MaxQueue: 256,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	lg, stop, err := start(s, m.Config)
	require.NoError(b, err)
	defer stop()
	for _, p := range Protocols() {
		for _, c := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", p, c), func(b *testing.B) {
				_, err := lg.run(b.Context(), p, c, 0, c) // one request per client to connect
				require.NoError(b, err)
				b.ResetTimer()
				l, err := lg.run(b.Context(), p, c, 0, b.N)
				require.NoError(b, err)
				if l.Errors > 0 {
					b.Fatalf("%d errors: %v", l.Errors, lg.lastErr())
				}
				b.ReportMetric(l.Throughput, "img/s")
				b.ReportMetric(1e3*l.Latency.P50, "p50-µs")
				b.ReportMetric(1e3*l.Latency.P99, "p99-µs")
				b.ReportMetric(l.MeanBatch, "batch")
			})
		}
	}
}
