package gpu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// tuneOpts keeps lavapipe runs short: few candidates, few runs.
var tuneOpts = gpu.TuneOptions{Runs: 3, Warmup: 1, MaxCandidates: 5}

// requireTuned checks one tuned shape: candidates measured (the
// heuristic's first), each measured one within its parity bound, the
// winner the fastest measured, the heuristic's time recorded.
func requireTuned(t *testing.T, r gpu.ShapeResult) {
	t.Helper()
	require.False(t, r.Cached, r.Shape.Key())
	require.GreaterOrEqual(t, len(r.Candidates), 2, "%s: candidates", r.Shape.Key())
	fastest := -1
	for i, c := range r.Candidates {
		t.Logf("%s: %-34v %8.1f µs  err %.3g (bound %.3g) %s", r.Shape.Key(), c.Config, c.Micros, c.RelErr, c.Bound, c.Err)
		if c.Err != "" {
			continue
		}
		require.Positive(t, c.Micros, "%s: %v", r.Shape.Key(), c.Config)
		require.LessOrEqual(t, c.RelErr, c.Bound, "%s: %v", r.Shape.Key(), c.Config)
		if fastest < 0 || c.Micros < r.Candidates[fastest].Micros {
			fastest = i
		}
	}
	require.GreaterOrEqual(t, fastest, 0)
	require.Equal(t, r.Candidates[fastest].Config, r.Entry.Config, "%s: the winner is the fastest measured", r.Shape.Key())
	require.Equal(t, r.Candidates[fastest].Micros, r.Entry.Micros)
	require.Equal(t, r.Candidates[0].Config, r.Entry.Heuristic, "the heuristic's configuration is measured first")
	require.Equal(t, r.Candidates[0].Micros, r.Entry.HeuristicMicros)
	require.GreaterOrEqual(t, r.Speedup(), 1.0)
}

// tuneShapesFor are tiny shapes of every op at element type typ (fp16
// products store C as fp16 and fp32).
func tuneShapesFor(typ gpu.DType) []gpu.Shape {
	s := []gpu.Shape{
		gpu.MatmulShape(9, 40, 24, typ, typ, gpu.EpilogueGELU),
		gpu.AttentionShape(2, 11, 2, 16, typ),
	}
	if typ == gpu.F16 {
		s = append(s, gpu.MatmulShape(5, 16, 32, gpu.F16, gpu.F32, gpu.EpilogueResidual))
	}
	return s
}

// testTune tunes tuneShapesFor(typ) in a fresh cache directory, saves the
// tuning, and checks that a second device on that directory runs the
// winners and that a second Tune measures nothing.
func testTune(t *testing.T, typ gpu.DType) {
	dir := t.TempDir()
	d := gputest.OpenOptions(t, gpu.Options{Select: gpu.OptionsFromEnv().Select, NoCoopMat: gpu.OptionsFromEnv().NoCoopMat, CacheDir: dir})
	if typ == gpu.F16 {
		requireFP16(t, d)
	}
	require.Contains(t, d.TuningNote(), "no tuning saved")
	shapes := tuneShapesFor(typ)
	var progress []gpu.TuneProgress
	opts := tuneOpts
	opts.Progress = func(p gpu.TuneProgress) { progress = append(progress, p) }
	res, tuning, err := gpu.Tune(context.Background(), d, shapes, opts)
	require.NoError(t, err)
	require.Len(t, res, len(shapes))
	measured := 0
	for _, r := range res {
		requireTuned(t, r)
		measured += len(r.Candidates)
	}
	require.Len(t, progress, measured, "one progress call per candidate")
	require.Equal(t, measured, progress[len(progress)-1].Total)
	require.Len(t, tuning.Entries, len(shapes))

	// The device runs the winners now; a new device, from the cache.
	path, err := gpu.SaveTuning(dir, d.Info(), tuning)
	require.NoError(t, err)
	require.FileExists(t, path)
	d2 := gputest.OpenOptions(t, gpu.Options{Select: gpu.OptionsFromEnv().Select, NoCoopMat: gpu.OptionsFromEnv().NoCoopMat, CacheDir: dir})
	require.Contains(t, d2.TuningNote(), fmt.Sprintf("tuning for %d shapes", len(shapes)))
	for _, dev := range []*gpu.Device{d, d2} {
		ops, err := gpu.NewOps(dev)
		require.NoError(t, err)
		for _, r := range res {
			s := r.Shape
			var cfg gpu.KernelConfig
			var tuned bool
			if s.Op == gpu.OpMatmul {
				cfg, tuned, err = ops.MatmulConfig(s.M, s.N, s.K, s.In, s.Out)
			} else {
				cfg, tuned, err = ops.AttentionConfig(s.B, s.T, s.H, s.Dh, s.In)
			}
			require.NoError(t, err)
			require.True(t, tuned, s.Key())
			require.Equal(t, r.Entry.Config, cfg, s.Key())
		}
		// A shape not tuned keeps the heuristic.
		_, tuned, err := ops.MatmulConfig(7, 8, 8, typ, typ)
		require.NoError(t, err)
		require.False(t, tuned)
	}

	// Second run: everything cached, nothing measured.
	progress = nil
	res2, tuning2, err := gpu.Tune(context.Background(), d2, shapes, opts)
	require.NoError(t, err)
	require.Empty(t, progress)
	require.Empty(t, tuning2.Entries)
	for i, r := range res2 {
		require.True(t, r.Cached, r.Shape.Key())
		require.Empty(t, r.Candidates)
		require.Equal(t, res[i].Entry.Config, r.Entry.Config)
	}
}

// TestTune tunes fp32 shapes on the device (lavapipe: regblock and tiled
// candidates).
func TestTune(t *testing.T) { testTune(t, gpu.F32) }

// TestTuneFP16 tunes fp16 shapes: on the coopmat lane the cooperative-matrix
// tilings are candidates too.
func TestTuneFP16(t *testing.T) { testTune(t, gpu.F16) }

// TestTuneDropsFailingCandidates: a candidate that cannot run is reported
// with its reason and never chosen.
func TestTuneDropsFailingCandidates(t *testing.T) {
	d := gputest.Open(t)
	s := gpu.MatmulShape(4, 8, 8, gpu.F32, gpu.F32, gpu.EpilogueNone)
	bad := gpu.KernelConfig{Op: gpu.OpMatmul, Design: gpu.DesignTiled, Tile: [6]uint32{60, 60, 16, 4, 4, 256}}
	good := gpu.KernelConfig{Op: gpu.OpMatmul, Design: gpu.DesignRegBlock}
	r, err := gpu.TuneCandidatesForTest(context.Background(), d, s, []gpu.KernelConfig{good, bad}, tuneOpts)
	require.NoError(t, err)
	require.Len(t, r.Candidates, 2)
	require.Contains(t, r.Candidates[1].Err, "unusable tile")
	require.Zero(t, r.Candidates[1].Micros)
	require.Equal(t, good, r.Entry.Config)

	_, err = gpu.TuneCandidatesForTest(context.Background(), d, s, []gpu.KernelConfig{bad}, tuneOpts)
	require.ErrorContains(t, err, "every candidate failed")
}

// TestTuneRejectsBadShapes: shapes the kernels cannot run are errors
// before anything is measured.
func TestTuneRejectsBadShapes(t *testing.T) {
	d := gputest.Open(t)
	for _, s := range []gpu.Shape{
		gpu.MatmulShape(0, 8, 8, gpu.F32, gpu.F32, gpu.EpilogueNone),
		gpu.MatmulShape(4, 8, 8, gpu.F32, gpu.F16, gpu.EpilogueNone),
		gpu.AttentionShape(1, 4, 1, 6, gpu.F32),
		{Op: "conv"},
	} {
		_, _, err := gpu.Tune(context.Background(), d, []gpu.Shape{s}, tuneOpts)
		require.Error(t, err, "%+v", s)
	}
}

// fakeInfo is a device description for the cache tests (no device needed).
func fakeInfo() gpu.DeviceInfo {
	return gpu.DeviceInfo{Name: "test device", VendorID: 0x10de, DeviceID: 0x2335, DriverVersion: 7, Driver: "test driver"}
}

func fakeTuning(keys ...int) *gpu.Tuning {
	t := &gpu.Tuning{Entries: map[string]gpu.TuneEntry{}}
	for _, m := range keys {
		s := gpu.MatmulShape(m, 16, 16, gpu.F32, gpu.F32, gpu.EpilogueNone)
		c := gpu.KernelConfig{Op: gpu.OpMatmul, Design: gpu.DesignTiled, Tile: [6]uint32{16, 32, 64, 4, 4, 256}}
		t.Entries[s.Key()] = gpu.TuneEntry{Shape: s, Config: c, Micros: 1, Heuristic: c, HeuristicMicros: 1}
	}
	return t
}

// TestTuningCache: saving merges, loading round-trips, and a corrupt,
// foreign or oversized file is ignored with a note.
func TestTuningCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vkdeit")
	info := fakeInfo()
	got, note, err := gpu.LoadTuning(dir, info)
	require.NoError(t, err)
	require.Empty(t, got.Entries)
	require.Contains(t, note, "no tuning saved")

	_, err = gpu.SaveTuning(dir, info, fakeTuning(1, 2))
	require.NoError(t, err)
	path, err := gpu.SaveTuning(dir, info, fakeTuning(3))
	require.NoError(t, err)
	got, note, err = gpu.LoadTuning(dir, info)
	require.NoError(t, err)
	require.Len(t, got.Entries, 3, "the second save merges into the first")
	require.Contains(t, note, "tuning for 3 shapes")
	require.Equal(t, fakeTuning(1, 2, 3).Entries, got.Entries)

	other := info
	other.DriverVersion++
	require.NotEqual(t, path, gpu.TuningPath(dir, other), "a new driver has its own file")
	otherPath, err := gpu.SaveTuning(dir, other, fakeTuning(4))
	require.NoError(t, err)
	foreign, err := os.ReadFile(otherPath)
	require.NoError(t, err)

	for _, c := range []struct {
		name, data, note string
	}{
		{"corrupt", "{\"format\": 1, \"key\": {", "corrupt"},
		{"not json", "\x00\x01garbage", "corrupt"},
		{"foreign", string(foreign), "another device, driver or vkdeit build"},
		{"mismatched entry", `{"format":1,"key":` + keyJSON(t, dir, info) + `,"entries":{"x":{"shape":{"op":"matmul","m":1,"n":1,"k":1},"config":{"op":"matmul","design":"tiled"}}}}`, "does not match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, []byte(c.data), 0o644))
			got, note, err := gpu.LoadTuning(dir, info)
			require.NoError(t, err)
			require.Empty(t, got.Entries)
			require.Contains(t, note, c.note)
			// A device opened on it ignores it the same way; saving replaces it.
			_, err = gpu.SaveTuning(dir, info, fakeTuning(5))
			require.NoError(t, err)
			got, _, err = gpu.LoadTuning(dir, info)
			require.NoError(t, err)
			require.Len(t, got.Entries, 1)
		})
	}
}

// keyJSON is the "key" object of info's tuning file under dir.
func keyJSON(t *testing.T, dir string, info gpu.DeviceInfo) string {
	t.Helper()
	path, err := gpu.SaveTuning(dir, info, fakeTuning(9))
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var f struct{ Key json.RawMessage }
	require.NoError(t, json.Unmarshal(b, &f))
	return string(f.Key)
}

// TestTuningCacheConcurrentSaves: writers racing on one file never leave
// it corrupt or leave temporary files behind.
func TestTuningCacheConcurrentSaves(t *testing.T) {
	dir := t.TempDir()
	info := fakeInfo()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				_, err := gpu.SaveTuning(dir, info, fakeTuning(100*i+j+1))
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	got, note, err := gpu.LoadTuning(dir, info)
	require.NoError(t, err)
	require.NotEmpty(t, got.Entries, note)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "only the tuning file remains")
}

// TestOpenIgnoresCorruptTuning: a device opens on a corrupt cache, says
// so, and runs the heuristic.
func TestOpenIgnoresCorruptTuning(t *testing.T) {
	dir := t.TempDir()
	probe := gputest.Open(t)
	require.NoError(t, os.WriteFile(gpu.TuningPath(dir, probe.Info()), []byte("not json"), 0o644))
	d := gputest.OpenOptions(t, gpu.Options{Select: gpu.OptionsFromEnv().Select, CacheDir: dir})
	require.Contains(t, d.TuningNote(), "corrupt")
	require.Empty(t, d.Tuning().Entries)
	ops, err := gpu.NewOps(d)
	require.NoError(t, err)
	_, tuned, err := ops.MatmulConfig(8, 8, 8, gpu.F32, gpu.F32)
	require.NoError(t, err)
	require.False(t, tuned)
}
