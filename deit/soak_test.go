package deit

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
	"github.com/vkdeit/vkdeit/loader/hub"
)

// processUsage is what a soak watches: goroutines, open file descriptors and
// resident memory.
type processUsage struct {
	goroutines int
	fds        int
	rssKiB     int64
}

// usage measures the process after letting finished goroutines exit and the
// garbage collector run, so that only what is really held counts.
func usage(t *testing.T) processUsage {
	t.Helper()
	var u processUsage
	for range 50 { // goroutines that just returned take a moment to be gone
		runtime.GC()
		u.goroutines = runtime.NumGoroutine()
		time.Sleep(time.Millisecond)
		if runtime.NumGoroutine() == u.goroutines {
			break
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		u.fds = len(fds)
	} else {
		u.fds = -1
	}
	u.rssKiB = -1
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					u.rssKiB, _ = strconv.ParseInt(f[0], 10, 64)
				}
			}
		}
	}
	return u
}

// requireFlat fails unless after shows no more than a few goroutines and
// file descriptors beyond before, and less than maxRSSGrowthMiB more
// resident memory, logging both.
func requireFlat(t *testing.T, what string, before, after processUsage, maxRSSGrowthMiB int64) {
	t.Helper()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%s: goroutines %d → %d, fds %d → %d, RSS %.1f → %.1f MiB (Go heap in use %.1f MiB)", what,
		before.goroutines, after.goroutines, before.fds, after.fds,
		float64(before.rssKiB)/1024, float64(after.rssKiB)/1024, float64(ms.HeapInuse)/(1<<20))
	require.LessOrEqual(t, after.goroutines, before.goroutines+2, "%s: goroutines grew", what)
	if before.fds >= 0 && after.fds >= 0 {
		require.LessOrEqual(t, after.fds, before.fds+2, "%s: file descriptors grew", what)
	}
	if before.rssKiB >= 0 && after.rssKiB >= 0 {
		require.Less(t, after.rssKiB-before.rssKiB, maxRSSGrowthMiB<<10, "%s: RSS grew", what)
	}
}

// soakConfig is the smallest model that still runs every kernel: one
// layer, 4 patches plus the two special tokens.
func soakConfig() Config {
	return Config{Hidden: 16, Layers: 1, Heads: 2, MLP: 32, ImageSize: 8, PatchSize: 4, Channels: 3,
		NumLabels: 5, Eps: 1e-6, Head: HeadDistilled, Labels: genericLabels(5)}
}

// TestSoakForward runs 10,000 forwards through an engine and checks that
// goroutines, file descriptors and memory stay flat. It runs the reference
// engine always and the GPU engine when a Vulkan device exists.
func TestSoakForward(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	cfg := soakConfig()
	m := &Model{Config: cfg, Weights: RandomWeights(cfg, 7)}
	pixels := randomPixels(cfg, 2, 7)
	const n = 10_000
	engines := map[string]func(t *testing.T) Engine{
		"reference": func(t *testing.T) Engine {
			e, err := NewReferenceEngine(m, 2, 0)
			require.NoError(t, err)
			return e
		},
		"gpu": func(t *testing.T) Engine {
			e, err := NewGPUEngine(gputest.Open(t), m, 2)
			require.NoError(t, err)
			return e
		},
	}
	for _, name := range []string{"reference", "gpu"} {
		t.Run(name, func(t *testing.T) {
			e := engines[name](t)
			defer e.Close()
			want, err := e.Forward(context.Background(), pixels, 2)
			require.NoError(t, err)
			before := usage(t)
			start := time.Now()
			for i := range n {
				got, err := e.Forward(context.Background(), pixels[:len(pixels)/2*(1+i%2)], 1+i%2)
				require.NoError(t, err)
				require.Equal(t, want[:len(got)], got, "forward %d", i)
			}
			elapsed := time.Since(start)
			after := usage(t)
			t.Logf("%d forwards on %s in %v (%.0f µs each)", n, e.Name(), elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())/n)
			requireFlat(t, name, before, after, 64)
		})
	}
}

// TestSoakDeviceOpenClose opens and closes a device 200 times — each time
// allocating, writing and reading a buffer and running a sequence, and every
// 20th time building an engine and running a forward — and checks that
// goroutines and file descriptors stay flat and memory within a generous
// bound. (Resident memory does grow by a fraction of a MiB per cycle on
// lavapipe: glibc keeps the freed driver memory in its per-thread malloc
// arenas. With MALLOC_ARENA_MAX=1 the growth all but vanishes, and the
// validation layer, which the test runs under, reports no object leaked.)
func TestSoakDeviceOpenClose(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	gputest.Open(t) // skips (or fails under CI) without a device
	cfg := soakConfig()
	m := &Model{Config: cfg, Weights: RandomWeights(cfg, 8)}
	pixels := randomPixels(cfg, 1, 8)
	opts := gpu.OptionsFromEnv()
	data := make([]float32, 1<<16)
	for i := range data {
		data[i] = float32(i)
	}
	cycle := func(i int) {
		d, err := gpu.Open(opts)
		require.NoError(t, err)
		b, err := d.NewBuffer(4 * int64(len(data)))
		require.NoError(t, err)
		require.NoError(t, d.Write(b, 0, data))
		s, err := d.NewSequence(false)
		require.NoError(t, err)
		require.NoError(t, s.Finish())
		require.NoError(t, s.Run(context.Background()))
		got := make([]float32, len(data))
		require.NoError(t, d.Read(b, 0, got))
		require.Equal(t, data, got)
		if i%20 == 0 {
			e, err := NewGPUEngine(d, m, 1)
			require.NoError(t, err)
			_, err = e.Forward(context.Background(), pixels, 1)
			require.NoError(t, err)
			require.NoError(t, e.Close())
		}
		require.NoError(t, d.Close())
		require.Empty(t, d.ValidationMessages())
	}
	for i := range 3 { // the Vulkan loader and driver keep caches of their own: warm them
		cycle(i * 20)
	}
	const n = 200
	before := usage(t)
	start := time.Now()
	for i := range n {
		cycle(i)
	}
	elapsed := time.Since(start)
	after := usage(t)
	t.Logf("%d device open/close cycles (%d with an engine) in %v (%.0f ms each, validation %v)", n, n/20,
		elapsed.Round(time.Millisecond), float64(elapsed.Milliseconds())/n, opts.Validation)
	requireFlat(t, "device cycles", before, after, 256)
}

// TestSoakLoad loads the tiny fixture (safetensors and the timm .pth, both
// memory-mapped) 300 times, some loads failing on a bad config, and checks
// that no file descriptor, mapping or goroutine is left behind.
func TestSoakLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	bad := hub.ModelFiles{Weights: testdataPath("tiny-distilled", "model.safetensors"),
		Config: writeConfig(t, `{"model_type": "deit", "hidden_size": 64, "num_hidden_layers": 1}`)}
	load := func(i int) {
		switch i % 3 {
		case 0:
			_, err := Load(fixtureFiles("tiny-distilled", "model.safetensors"))
			require.NoError(t, err)
		case 1:
			_, err := Load(hub.ModelFiles{Weights: testdataPath("tiny-distilled-timm", "model.pth")})
			require.NoError(t, err)
		case 2:
			_, err := Load(bad)
			require.Error(t, err)
		}
	}
	load(0)
	before := usage(t)
	for i := range 300 {
		load(i)
	}
	after := usage(t)
	requireFlat(t, "loads", before, after, 64)
	if maps, err := os.ReadFile("/proc/self/maps"); err == nil {
		require.NotContains(t, string(maps), "model.safetensors", "a mapping outlived its load")
		require.NotContains(t, string(maps), "model.pth", "a mapping outlived its load")
	}
}
