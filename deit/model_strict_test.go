package deit

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/loader/checkpoint"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// writeFixtureVariant writes the tiny-distilled fixture's tensors, edited by
// edit (which may add, drop or replace tensors), as a safetensors file in a
// fresh directory together with config (the fixture's config.json when "")
// and returns the model files.
func writeFixtureVariant(t *testing.T, config string, edit func(ts map[string]*checkpoint.Tensor)) modeldir.Files {
	t.Helper()
	ts, err := checkpoint.Read(fixture.Path("tiny-distilled", "model.safetensors"))
	require.NoError(t, err)
	if edit != nil {
		edit(ts)
	}
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	slices.Sort(names)
	list := make([]*checkpoint.Tensor, len(names))
	for i, n := range names {
		list[i] = ts[n]
		list[i].Name = n
	}
	dir := t.TempDir()
	files := modeldir.Files{Dir: dir, Weights: filepath.Join(dir, "model.safetensors"), Config: filepath.Join(dir, "config.json")}
	require.NoError(t, checkpoint.WriteSafetensors(files.Weights, list))
	if config == "" {
		b, err := os.ReadFile(fixture.Path("tiny-distilled", "config.json"))
		require.NoError(t, err)
		config = string(b)
	}
	require.NoError(t, os.WriteFile(files.Config, []byte(config), 0o644))
	return files
}

// fixtureConfigJSON is the tiny-distilled config.json with edits applied
// (old → new replacements).
func fixtureConfigJSON(t *testing.T, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(fixture.Path("tiny-distilled", "config.json"))
	require.NoError(t, err)
	s := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		require.Contains(t, s, edits[i])
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return s
}

// TestLoadRefusesMismatches checks that a checkpoint that holds more or
// other tensors than the config's model uses is refused with the list of
// them (unless LoadOptions allow it), and that the known extras are not.
func TestLoadRefusesMismatches(t *testing.T) {
	zeros := func(shape ...int) *checkpoint.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		return &checkpoint.Tensor{Shape: shape, Data: make([]float32, n)}
	}
	for _, tc := range []struct {
		name    string
		config  string
		edit    func(ts map[string]*checkpoint.Tensor)
		opts    LoadOptions
		wantErr []string
		note    string
	}{
		{name: "one layer configured, two stored",
			config: fixtureConfigJSON(t, `"num_hidden_layers": 2`, `"num_hidden_layers": 1`),
			wantErr: []string{"holds 16 tensor(s) that the config (D=64, layers=1,", "deit.encoder.layer.1.attention.attention.key.bias",
				"… and 4 more", "(the checkpoint has 2 layers, the config num_hidden_layers 1)", "deit.LoadOptions.AllowExtraTensors"}},
		{name: "one layer configured, two stored, allowed", opts: LoadOptions{AllowExtraTensors: true},
			config: fixtureConfigJSON(t, `"num_hidden_layers": 2`, `"num_hidden_layers": 1`),
			note:   "16 tensor(s) the model does not use were not read: deit.encoder.layer.1."},
		{name: "a third layer",
			edit: func(ts map[string]*checkpoint.Tensor) {
				ts["deit.encoder.layer.2.output.dense.bias"] = zeros(64)
			},
			wantErr: []string{"holds 1 tensor(s)", "deit.encoder.layer.2.output.dense.bias", "(the checkpoint has 3 layers, the config num_hidden_layers 2)"}},
		{name: "unknown names, escaped",
			edit: func(ts map[string]*checkpoint.Tensor) {
				ts["optimizer.state.0.exp_avg"] = zeros(4)
				ts["evil\x1b[2Jname"] = zeros(1)
			},
			wantErr: []string{"holds 2 tensor(s)", `"evil\x1b[2Jname", optimizer.state.0.exp_avg`}},
		{name: "many unknown names, list capped",
			edit: func(ts map[string]*checkpoint.Tensor) {
				for i := range 100 {
					ts[fmt.Sprintf("extra.%03d", i)] = zeros(1)
				}
			},
			wantErr: []string{"holds 100 tensor(s)", "extra.000, extra.001", "extra.011, … and 88 more"}},
		{name: "unused and missing together",
			edit: func(ts map[string]*checkpoint.Tensor) {
				delete(ts, "deit.layernorm.bias")
				ts["stray"] = zeros(1)
			},
			wantErr: []string{"deit.layernorm.bias: want [64], found nothing", "and the Hugging Face DeiT (deit.*) checkpoint holds 1 tensor(s)", "stray"}},
		{name: "known extras: HF pooler and mask token",
			edit: func(ts map[string]*checkpoint.Tensor) {
				ts["deit.pooler.dense.weight"] = zeros(64, 64)
				ts["deit.pooler.dense.bias"] = zeros(64)
				ts["deit.embeddings.mask_token"] = zeros(1, 1, 64)
			},
			note: "3 tensor(s) the model does not use were not read: deit.embeddings.mask_token, deit.pooler.dense.bias, deit.pooler.dense.weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := writeFixtureVariant(t, tc.config, tc.edit)
			m, err := LoadWith(files, tc.opts)
			if tc.wantErr != nil {
				require.Error(t, err)
				require.True(t, strings.HasPrefix(err.Error(), "deit: "+files.Weights+": "), err.Error())
				for _, w := range tc.wantErr {
					require.ErrorContains(t, err, w)
				}
				return
			}
			require.NoError(t, err)
			require.NoError(t, m.Weights.check(m.Config))
			require.Contains(t, strings.Join(m.Notes, "\n"), tc.note)
		})
	}
}

// TestLoadDoesNotReadUnusedTensors checks that a large tensor the model does
// not use is never converted: Load with AllowExtraTensors allocates a small
// fraction of its size, and without the option fails before reading it.
func TestLoadDoesNotReadUnusedTensors(t *testing.T) {
	const big = 16 << 20 // float32 values: 64 MiB stored, 64 MiB converted
	files := writeFixtureVariant(t, "", func(ts map[string]*checkpoint.Tensor) {
		ts["unused.huge"] = &checkpoint.Tensor{Shape: []int{big}, Data: make([]float32, big)}
	})
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var err error
	n := allocated(func() { _, err = Load(files) })
	require.ErrorContains(t, err, "unused.huge")
	require.Less(t, n, uint64(8<<20), "refusing must not convert the unused tensor (%d bytes allocated)", n)

	var m *Model
	n = allocated(func() { m, err = LoadWith(files, LoadOptions{AllowExtraTensors: true}) })
	require.NoError(t, err)
	require.Contains(t, strings.Join(m.Notes, "\n"), "unused.huge")
	require.Less(t, n, uint64(8<<20), "the unused 64 MiB tensor must not be converted (%d bytes allocated)", n)
	t.Logf("Load with a 64 MiB unused tensor allocated %.2f MiB", float64(n)/(1<<20))
}

// TestLoadRefusesNonFinite checks that a NaN or infinite weight is refused at
// load, naming the tensor and the first bad element, and that engines refuse
// non-finite weights built by hand (NewPlan) and non-finite pixels
// (Config.CheckPixels, which every engine calls).
func TestLoadRefusesNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	for _, tc := range []struct {
		name, tensor string
		at           int
		v            float32
		want         string
	}{
		{"NaN in a matrix", "deit.encoder.layer.1.intermediate.dense.weight", 7*64 + 3, nan,
			"tensor deit.encoder.layer.1.intermediate.dense.weight: element 451 (index [7 3]) is NaN"},
		{"-Inf in a bias", "distillation_classifier.bias", 9, inf, "tensor distillation_classifier.bias: element 9 (index [9]) is -Inf"},
		{"NaN in the position table", "deit.embeddings.position_embeddings", 64*17 + 63, nan,
			"tensor deit.embeddings.position_embeddings: element 1151 (index [0 17 63]) is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := writeFixtureVariant(t, "", func(ts map[string]*checkpoint.Tensor) {
				ts[tc.tensor].Data[tc.at] = tc.v
				if tc.at > 0 {
					ts[tc.tensor].Data[tc.at-1] = 1e30 // large but finite is fine
				}
			})
			_, err := Load(files)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, files.Weights)
		})
	}

	m, err := Load(fixture.Files("tiny-distilled", "model.safetensors"))
	require.NoError(t, err)
	bad := *m.Weights
	bad.Layers = append([]Layer(nil), bad.Layers...)
	bad.Layers[1].FC2B = append([]float32(nil), bad.Layers[1].FC2B...)
	bad.Layers[1].FC2B[5] = nan
	_, err = NewPlan(&Model{Config: m.Config, Weights: &bad})
	require.ErrorContains(t, err, "weights Layers[1].FC2B[5] is NaN", "every engine builds its plan, so none runs such weights")

	pixels, batch := fixture.ReadInputs(t)
	per := len(pixels) / batch
	for _, v := range []float32{nan, float32(math.Inf(1))} {
		p := append([]float32(nil), pixels...)
		p[per+2*32*32+5*32+7] = v
		err := m.Config.CheckPixels(p, batch)
		require.ErrorContains(t, err, fmt.Sprintf("pixel value %d (image 1, channel 2, row 5, column 7) is %v", per+2*32*32+5*32+7, v))
	}
	require.NoError(t, m.Config.CheckPixels(pixels, batch))
}
