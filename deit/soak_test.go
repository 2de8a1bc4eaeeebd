package deit

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/internal/soak"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// TestSoakLoad loads the tiny fixture (safetensors and the timm .pth, both
// memory-mapped) 300 times, some loads failing on a bad config, and checks
// that no file descriptor, mapping or goroutine is left behind.
func TestSoakLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	bad := modeldir.Files{Weights: fixture.Path("tiny-distilled", "model.safetensors"),
		Config: writeConfig(t, `{"model_type": "deit", "hidden_size": 64, "num_hidden_layers": 1}`)}
	load := func(i int) {
		switch i % 3 {
		case 0:
			_, err := Load(fixture.Files("tiny-distilled", "model.safetensors"))
			require.NoError(t, err)
		case 1:
			_, err := Load(modeldir.Files{Weights: fixture.Path("tiny-distilled-timm", "model.pth")})
			require.NoError(t, err)
		case 2:
			_, err := Load(bad)
			require.Error(t, err)
		}
	}
	load(0)
	before := soak.Measure(t)
	for i := range 300 {
		load(i)
	}
	after := soak.Measure(t)
	soak.RequireFlat(t, "loads", before, after, 64)
	if maps, err := os.ReadFile("/proc/self/maps"); err == nil {
		require.NotContains(t, string(maps), "model.safetensors", "a mapping outlived its load")
		require.NotContains(t, string(maps), "model.pth", "a mapping outlived its load")
	}
}
