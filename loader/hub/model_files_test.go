package hub

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// makeFiles creates the named files (content = name) under dir.
func makeFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, n)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(n), 0o644))
	}
}

func TestResolveModelPaths(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		arg     string // relative to the temp dir
		want    modeldir.Files
		wantErr string
	}{
		{"dir with safetensors", []string{"m/config.json", "m/preprocessor_config.json", "m/model.safetensors", "m/pytorch_model.bin"}, "m",
			modeldir.Files{Dir: "m", Weights: "m/model.safetensors", Config: "m/config.json", Preprocessor: "m/preprocessor_config.json"}, ""},
		{"dir with bin and trainer files", []string{"m/config.json", "m/pytorch_model.bin", "m/training_args.bin", "m/optimizer.pt"}, "m",
			modeldir.Files{Dir: "m", Weights: "m/pytorch_model.bin", Config: "m/config.json"}, ""},
		{"dir with one pth", []string{"m/deit_small_distilled_patch16_224-649709d9.pth", "m/rng_state.pth", "m/README.md"}, "m",
			modeldir.Files{Dir: "m", Weights: "m/deit_small_distilled_patch16_224-649709d9.pth"}, ""},
		{"dir with two checkpoints", []string{"m/a.pt", "m/b.safetensors"}, "m", modeldir.Files{}, "several weights files (a.pt, b.safetensors)"},
		{"dir without weights", []string{"m/config.json"}, "m", modeldir.Files{}, "no weights file"},
		{"sharded", []string{"m/model.safetensors.index.json"}, "m", modeldir.Files{}, "sharded"},
		{"weights file with configs beside", []string{"w/ck.pth", "w/config.json", "w/preprocessor_config.json"}, "w/ck.pth",
			modeldir.Files{Dir: "w", Weights: "w/ck.pth", Config: "w/config.json", Preprocessor: "w/preprocessor_config.json"}, ""},
		{"weights file alone", []string{"w/ck.bin"}, "w/ck.bin", modeldir.Files{Dir: "w", Weights: "w/ck.bin"}, ""},
		{"config file names its dir", []string{"m/config.json", "m/model.safetensors"}, "m/config.json",
			modeldir.Files{Dir: "m", Weights: "m/model.safetensors", Config: "m/config.json"}, ""},
		{"existing path shaped like a repo id wins", []string{"acme/deit-test/model.safetensors"}, "acme/deit-test",
			modeldir.Files{Dir: "acme/deit-test", Weights: "acme/deit-test/model.safetensors"}, ""},
		{"missing relative path", nil, "./x/y", modeldir.Files{}, "not a Hugging Face repo id"},
		{"missing file", nil, "nothing.pth", modeldir.Files{}, "nothing.pth: no such file or directory"},
		{"bad revision", nil, "acme/x@", modeldir.Files{}, `"" is not a valid revision`},
	}
	// A hub that would fail loudly if asked: offline with an empty cache.
	h := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir(), Offline: true}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			makeFiles(t, dir, tc.files...)
			t.Chdir(dir)
			got, err := ResolveModel(context.Background(), tc.arg, h)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "HF_HUB_OFFLINE", "a path must not be looked up on the Hub")
				return
			}
			require.NoError(t, err)
			clean := func(p string) string { return filepath.FromSlash(p) }
			require.Equal(t, modeldir.Files{Dir: clean(tc.want.Dir), Weights: clean(tc.want.Weights),
				Config: clean(tc.want.Config), Preprocessor: clean(tc.want.Preprocessor)}, got)
		})
	}
}

func TestResolveModelRepoID(t *testing.T) {
	f := newFakeHub(t)
	files := testModel("model.safetensors", 1234)
	f.addCommit(testRepo, fakeCommit("r"), files, "main")
	h := testHub(t, f)
	t.Chdir(t.TempDir())

	mf, err := ResolveModel(context.Background(), testRepo, h)
	require.NoError(t, err)
	got, err := os.ReadFile(mf.Weights)
	require.NoError(t, err)
	require.Equal(t, files["model.safetensors"], got)

	h.Offline = true
	_, err = ResolveModel(context.Background(), "acme/other", h)
	require.ErrorContains(t, err, "vkdeit download acme/other")
}

// TestResolveModelUnreachable: with the Hub unreachable and an empty cache,
// the error says the argument was tried as a repo id (a mistyped local path
// has that form) and names the remedies: a proxy, a mirror, a copied cache
// and HF_HUB_OFFLINE.
func TestResolveModelUnreachable(t *testing.T) {
	for _, arg := range []string{"models/nonexistent", "facebook/deit-tiny-patch16-224@main"} {
		t.Run(arg, func(t *testing.T) {
			cache := t.TempDir()
			h := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: cache}
			_, err := ResolveModel(context.Background(), arg, h)
			require.Error(t, err)
			for _, want := range []string{"not a local file or directory; tried as a Hugging Face repo id",
				"cannot reach the Hub at http://127.0.0.1:1", "HTTPS_PROXY", "HF_ENDPOINT", "copy a Hugging Face cache",
				cache, "HF_HUB_OFFLINE=1"} {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}
