package gpu_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// openCached opens the test device with dir as its cache directory and
// its notes in log.
func openCached(t *testing.T, dir string, log *bytes.Buffer) *gpu.Device {
	env := gpu.OptionsFromEnv()
	return gputest.OpenOptions(t, gpu.Options{Select: env.Select, NoCoopMat: env.NoCoopMat, CacheDir: dir, Log: log})
}

// runAdds builds test-add under two specializations (SCALE 2 and 0.5) and
// returns both outputs for a fixed input.
func runAdds(t *testing.T, d *gpu.Device) [][]float32 {
	t.Helper()
	const n = 256
	x := rtBuffer(t, d, rtRandom(t, 7, n))
	var out [][]float32
	for _, scale := range []float32{2, 0.5} {
		p, err := d.Pipeline(rtAdd, math.Float32bits(scale))
		require.NoError(t, err)
		y := rtBuffer(t, d, rtNaNs(n))
		s, err := d.NewSequence(false)
		require.NoError(t, err)
		require.NoError(t, s.Dispatch("add", p, rtGroups(n), gpu.Push(uint32(n), float32(0.25)), gpu.R(x), gpu.W(y)))
		require.NoError(t, s.Finish())
		require.NoError(t, s.Run(context.Background()))
		s.Close()
		out = append(out, rtRead(t, d, y, n))
	}
	return out
}

// TestPipelineCache: a device with a cache directory saves its pipeline
// cache when it closes; the next device on that directory starts from
// those bytes and computes the same results bit for bit. With the
// validation layer on (gputest), which checks the initial data's size and
// header against the device.
func TestPipelineCache(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	d := openCached(t, dir, &log)
	path := gpu.PipelineCachePath(dir, d.Info())
	require.NoFileExists(t, path)
	require.Zero(t, d.PipelineCacheLoaded(), "nothing saved yet")
	want := runAdds(t, d)
	require.Equal(t, 2, d.PipelinesBuilt())
	require.NoError(t, d.Close())
	require.FileExists(t, path)
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	data, err := gpu.ParsePipelineCache(file, d.Info())
	require.NoError(t, err)
	t.Logf("%s: %d bytes of driver data", path, len(data))

	d2 := openCached(t, dir, &log)
	require.Equal(t, len(data), d2.PipelineCacheLoaded(), "the second device starts from the saved bytes")
	require.Equal(t, want, runAdds(t, d2), "results from cached pipelines")
	require.NoError(t, d2.Close())
	file2, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = gpu.ParsePipelineCache(file2, d2.Info())
	require.NoError(t, err, "the file stays whole after the second close")
	require.Empty(t, log.String(), "no notes")

	// A device that builds nothing leaves the file alone.
	before, err := os.Stat(path)
	require.NoError(t, err)
	d3 := openCached(t, dir, &log)
	require.NotZero(t, d3.PipelineCacheLoaded())
	require.NoError(t, d3.Close())
	after, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, before.ModTime(), after.ModTime())
}

// TestPipelineCacheIgnoresBadFiles: a corrupt, torn or foreign file is
// ignored with a note (the device compiles as without a cache and computes
// the same), and replaced by a good one when the device closes.
func TestPipelineCacheIgnoresBadFiles(t *testing.T) {
	dir := t.TempDir()
	d := openCached(t, dir, &bytes.Buffer{})
	info := d.Info()
	want := runAdds(t, d)
	require.NoError(t, d.Close())
	path := gpu.PipelineCachePath(dir, info)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	data, err := gpu.ParsePipelineCache(good, info)
	require.NoError(t, err)

	other := info
	other.DriverVersion++
	alien := append([]byte(nil), data...)
	alien[16] ^= 0xff // another pipelineCacheUUID
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 1
	for _, c := range []struct {
		name string
		file []byte
		note string
	}{
		{"garbage", []byte("not a pipeline cache at all, just some bytes here"), "corrupt (not a vkdeit pipeline cache)"},
		{"empty", nil, "corrupt"},
		{"torn", good[:len(good)-1], "the header says"},
		{"flipped", flipped, "checksum"},
		{"another key", gpu.EncodePipelineCache(data, other), "another device, driver or vkdeit build"},
		{"another driver", gpu.EncodePipelineCache(alien, info), "another device or driver"},
		{"short driver header", gpu.EncodePipelineCache(data[:16], info), "shorter than the Vulkan header"},
		{"bad header version", gpu.EncodePipelineCache(binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(nil, 32), 2), info), "corrupt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := gpu.ParsePipelineCache(c.file, info)
			require.ErrorContains(t, err, c.note)
			require.NoError(t, os.WriteFile(path, c.file, 0o644))
			var log bytes.Buffer
			d := openCached(t, dir, &log)
			require.Contains(t, log.String(), "gpu: pipeline cache: ignored "+path)
			require.Contains(t, log.String(), c.note)
			require.Zero(t, d.PipelineCacheLoaded())
			require.Equal(t, want, runAdds(t, d))
			require.NoError(t, d.Close())
			fixed, err := os.ReadFile(path)
			require.NoError(t, err)
			_, err = gpu.ParsePipelineCache(fixed, info)
			require.NoError(t, err, "replaced by a good file")
		})
	}
}

// TestPipelineCacheNeedsCacheDir: without a cache directory vkdeit loads
// and writes nothing, not even under $XDG_CACHE_HOME (where Mesa and the
// validation layer keep caches of their own).
func TestPipelineCacheNeedsCacheDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", home)
	var log bytes.Buffer
	d := openCached(t, "", &log)
	runAdds(t, d)
	require.Zero(t, d.PipelineCacheLoaded())
	require.NoError(t, d.Close())
	require.NoDirExists(t, filepath.Join(home, "vkdeit"))
	ours, err := filepath.Glob(filepath.Join(home, "*", "pipelines-*"))
	require.NoError(t, err)
	require.Empty(t, ours)
	require.Empty(t, log.String())
}
