package main

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/classify"
)

// serveRepo imitates the Hub's resolve endpoint for one repo holding the
// files of dir: HEAD/GET /{repo}/resolve/{rev}/{file} answer with the git
// blob ETag and X-Repo-Commit, missing files with 404 EntryNotFound.
func serveRepo(t *testing.T, repo, dir string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	const commit = "0123456789abcdef0123456789abcdef01234567"
	gets := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/"+repo+"/resolve/")
		if !ok {
			w.Header().Set("X-Error-Code", "RepoNotFound")
			http.Error(w, "repository not found", http.StatusUnauthorized)
			return
		}
		_, file, _ := strings.Cut(rest, "/")
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || file == "" || strings.Contains(file, "/") {
			w.Header().Set("X-Error-Code", "EntryNotFound")
			http.Error(w, "entry not found", http.StatusNotFound)
			return
		}
		h := sha1.New()
		fmt.Fprintf(h, "blob %d\x00", len(data))
		h.Write(data)
		w.Header().Set("ETag", `"`+hex.EncodeToString(h.Sum(nil))+`"`)
		w.Header().Set("X-Repo-Commit", commit)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if r.Method == http.MethodGet {
			gets.Add(1)
			w.Write(data)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, gets
}

// TestDownloadThenClassifyOffline fills an empty cache from a fake hub with
// `vkdeit download`, then classifies by repo id with the network switched off.
func TestDownloadThenClassifyOffline(t *testing.T) {
	const repo = "vkdeit-test/tiny-distilled"
	srv, gets := serveRepo(t, repo, tinyDir)
	cache := t.TempDir()
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_TOKEN", "")

	code, out, errs := runCLI(t, nil, "download", repo)
	require.Equal(t, 0, code, errs)
	snap := strings.TrimSpace(out)
	require.True(t, strings.HasPrefix(snap, filepath.Join(cache, "models--vkdeit-test--tiny-distilled", "snapshots")), snap)
	for _, f := range []string{"config.json", "preprocessor_config.json", "model.safetensors"} {
		want, err := os.ReadFile(filepath.Join(tinyDir, f))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(snap, f))
		require.NoError(t, err, f)
		require.Equal(t, want, got, f)
	}
	downloaded := gets.Load()
	require.GreaterOrEqual(t, downloaded, int64(3))

	t.Setenv("HF_HUB_OFFLINE", "1")
	_, good := mixedDir(t)
	code, out, errs = runCLI(t, nil, "classify", "--model", repo, "--device", "ref", "--top", "1", good[0])
	require.Equal(t, 0, code, errs)
	m := loadTiny(t)
	want, err := classify.TopK(expectedLogits(t, m, good[0]), 1, m.Config.Labels)
	require.NoError(t, err)
	require.Contains(t, out, want[0].Label)
	require.Equal(t, downloaded, gets.Load(), "offline classify must not download")
}

// TestUnreachableHubRemedies: classify and download with the Hub
// unreachable and an empty cache fail with the remedies (proxy, mirror,
// copied cache, HF_HUB_OFFLINE); a mistyped local path says it was tried as
// a repo id.
func TestUnreachableHubRemedies(t *testing.T) {
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "")
	_, good := mixedDir(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"download", []string{"download", "org/model"}, nil},
		{"classify default model", []string{"classify", "--device", "ref", good[0]}, nil},
		{"classify mistyped path", []string{"classify", "--device", "ref", "--model", "models/nonexistent", good[0]},
			[]string{"vkdeit: models/nonexistent: not a local file or directory; tried as a Hugging Face repo id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, nil, tc.args...)
			require.Equal(t, 1, code, errs)
			for _, w := range append(tc.want, "cannot reach the Hub", "HTTPS_PROXY", "HF_ENDPOINT", "copy a Hugging Face cache", "HF_HUB_OFFLINE=1") {
				require.Contains(t, errs, w)
			}
		})
	}
}

// TestNoPreprocessorConfig: a model of another size than 224 without
// preprocessor_config.json (testdata/tiny-vit, 32 px) classifies with the
// resize and crop derived from its image size, noted once at load; a Hub
// snapshot without the file gets the same note.
func TestNoPreprocessorConfig(t *testing.T) {
	const vitDir = "../../testdata/tiny-vit"
	const note = "no preprocessor_config.json: images are resized to 36×36 (bicubic) and center-cropped to 32×32, timm's crop_pct 0.875"
	_, good := mixedDir(t)
	code, out, errs := runCLI(t, nil, "classify", "--model", vitDir, "--device", "ref", "--top", "1", good[0], good[1])
	require.Equal(t, 0, code, errs)
	require.Equal(t, 1, strings.Count(errs, note), errs)
	require.Equal(t, 2, strings.Count(out, "\n  1"), out)

	const repo = "vkdeit-test/tiny-vit"
	srv, _ := serveRepo(t, repo, vitDir)
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_TOKEN", "")
	code, _, errs = runCLI(t, nil, "classify", "--model", repo, "--device", "ref", good[0])
	require.Equal(t, 0, code, errs)
	require.Equal(t, 1, strings.Count(errs, note), errs)
}

// TestModelErrorsNameTheModelOnce: --model's errors name the argument once,
// not once per layer ("model X: hub: model X: ...").
func TestModelErrorsNameTheModelOnce(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "1")
	_, good := mixedDir(t)
	notWeights := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(notWeights, []byte("not a checkpoint"), 0o644))
	for _, arg := range []string{"nonexistent-model", notWeights, t.TempDir()} {
		code, _, errs := runCLI(t, nil, "classify", "--device", "ref", "--model", arg, good[0])
		require.Equal(t, 1, code, errs)
		require.Equal(t, 1, strings.Count(errs, arg), errs)
		require.Equal(t, 1, strings.Count(errs, "\n"), errs)
	}
}
