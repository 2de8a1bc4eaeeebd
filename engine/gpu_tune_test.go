package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// openTuneDevice opens the test device with dir as its cache directory.
func openTuneDevice(t *testing.T, dir string) *gpu.Device {
	env := gpu.OptionsFromEnv()
	return gputest.OpenOptions(t, gpu.Options{Select: env.Select, NoCoopMat: env.NoCoopMat, CacheDir: dir})
}

// TestTunedEngines tunes the GPU engine at each precision on a tiny model
// (batches 1 and 2, few candidates: lavapipe), and checks that the tuned
// engine matches the float64 reference, that every matmul and attention
// runs its tuned configuration, that a new engine on the same cache runs
// the same kernels (the same bits) and tunes nothing, and that an engine
// without a tuning says so.
func TestTunedEngines(t *testing.T) {
	cfg := tinyConfig(deit.HeadDistilled)
	m := randomModel(cfg, 17)
	const B = 2
	px := deit.RandomPixels(cfg, B, 17)
	want, err := RunReference(context.Background(), m, px, B, deit.TapHidden|deit.TapEmbeddings)
	require.NoError(t, err)
	opts := gpu.TuneOptions{Runs: 2, Warmup: 1, MaxCandidates: 2}
	for _, tc := range engineCases() {
		var prec deit.Precision
		switch tc.name {
		case "gpu/fp32":
			prec = deit.FP32
		case "gpu/fp16":
			prec = deit.FP16
		default:
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			open := func(d *gpu.Device) *GPU {
				if prec == deit.FP16 {
					return fp16Engine(t, d, m, B)
				}
				return newGPU(t, d, m, B, prec)
			}
			d := openTuneDevice(t, dir)
			e := open(d)
			require.Contains(t, e.Notes()[0], "built-in heuristics")
			require.Contains(t, e.Notes()[0], "vkdeit tune")
			res, tuning, err := e.Tune(context.Background(), []int{1, B}, opts)
			require.NoError(t, err)
			require.Len(t, res, len(e.TuneShapes([]int{1, B})))
			for _, r := range res {
				require.False(t, r.Cached)
				require.NotEmpty(t, r.Candidates)
				require.LessOrEqual(t, r.Entry.Micros, r.Entry.HeuristicMicros, r.Shape.Key())
			}
			for _, b := range []int{1, B} {
				ks, err := e.KernelConfigs(b)
				require.NoError(t, err)
				require.Len(t, ks, 5*cfg.Layers+2, "patch_embed, qkv/attention/proj/fc1/fc2 per layer, head")
				for _, k := range ks {
					require.True(t, k.Tuned, "%s at batch %d: %s", k.Step, b, k.Config)
				}
			}
			require.Equal(t, []int{1, B}, e.TunedBatches())
			requireMatches(t, tc, e, px, B, want)
			tuned, err := e.Forward(context.Background(), px, B)
			require.NoError(t, err)

			_, err = gpu.SaveTuning(dir, d.Info(), tuning)
			require.NoError(t, err)
			e2 := open(openTuneDevice(t, dir))
			require.Contains(t, e2.Notes()[0], "kernels tuned for batch [1 2]")
			again, err := e2.Forward(context.Background(), px, B)
			require.NoError(t, err)
			require.Equal(t, tuned, again, "the cached tuning runs the same kernels")
			res2, _, err := e2.Tune(context.Background(), []int{1, B}, opts)
			require.NoError(t, err)
			for _, r := range res2 {
				require.True(t, r.Cached, "second run: %s taken from the cache", r.Shape.Key())
			}
		})
	}
}
