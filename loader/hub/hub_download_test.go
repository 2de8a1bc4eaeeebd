package hub

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

const testRepo = "acme/deit-test"

// testModel returns the files of a small fake model repo.
func testModel(weights string, size int) map[string][]byte {
	m := map[string][]byte{
		"config.json":              []byte(`{"model_type":"deit","hidden_size":8}`),
		"preprocessor_config.json": []byte(`{"size":16,"crop_size":12}`),
		".gitattributes":           []byte("*.bin filter=lfs\n"),
	}
	if weights != "" {
		m[weights] = randomBytes(size, int64(size))
	}
	return m
}

// testHub returns a Client on the fake server with a fresh cache.
func testHub(t *testing.T, f *fakeHub) *Client {
	return &Client{Endpoint: f.hub.URL, CacheDir: t.TempDir(), HTTP: f.hub.Client()}
}

// requireCachedFile checks that path is a snapshot symlink "../../blobs/<etag>"
// whose content is want.
func requireCachedFile(t *testing.T, h *Client, path, etag string, want []byte) {
	t.Helper()
	link, err := os.Readlink(path)
	require.NoError(t, err, "snapshot entry must be a symlink")
	require.Equal(t, filepath.Join("..", "..", "blobs", etag), link)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "%s: content differs (%d vs %d bytes)", path, len(got), len(want))
	_, err = os.Stat(filepath.Join(h.CacheDir, "models--acme--deit-test", "blobs", etag+".incomplete"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestHubDownloadFresh(t *testing.T) {
	f := newFakeHub(t)
	files := testModel("model.safetensors", 300_000)
	files["pytorch_model.bin"] = randomBytes(1000, 7) // present but not needed
	commit := fakeCommit("c1")
	f.addCommit(testRepo, commit, files, "main")
	f.token = "hf_secret"
	h := testHub(t, f)
	h.Token = "hf_secret"
	last := map[string][2]int64{}
	h.Progress = func(file string, have, total int64) { last[file] = [2]int64{have, total} }

	mf, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	root := filepath.Join(h.CacheDir, "models--acme--deit-test")
	snap := filepath.Join(root, "snapshots", commit)
	require.Equal(t, modeldir.Files{
		Dir:          snap,
		Weights:      filepath.Join(snap, "model.safetensors"),
		Config:       filepath.Join(snap, "config.json"),
		Preprocessor: filepath.Join(snap, "preprocessor_config.json"),
	}, mf)
	requireCachedFile(t, h, mf.Config, gitBlobSHA1(files["config.json"]), files["config.json"])
	requireCachedFile(t, h, mf.Preprocessor, gitBlobSHA1(files["preprocessor_config.json"]), files["preprocessor_config.json"])
	requireCachedFile(t, h, mf.Weights, sha256Hex(files["model.safetensors"]), files["model.safetensors"])
	ref, err := os.ReadFile(filepath.Join(root, "refs", "main"))
	require.NoError(t, err)
	require.Equal(t, commit, string(ref))
	_, err = os.Stat(filepath.Join(snap, "pytorch_model.bin"))
	require.ErrorIs(t, err, os.ErrNotExist, "the .bin must not be fetched when safetensors exist")

	reqs := f.requests()
	var hubGets, cdnGets int
	for _, r := range reqs {
		switch r.server {
		case "hub":
			require.Equal(t, "Bearer hf_secret", r.auth, "%s %s", r.method, r.path)
			if r.method == "GET" {
				hubGets++
			}
		case "cdn":
			require.Empty(t, r.auth, "token leaked to the CDN host: %s %s", r.method, r.path)
			cdnGets++
		}
	}
	require.Equal(t, 3, hubGets, "two small files + one GET that redirects to the CDN: %v", reqs)
	require.Equal(t, 1, cdnGets, "%v", reqs)
	require.Equal(t, [2]int64{300_000, 300_000}, last["model.safetensors"], "progress reached the whole file")

	// A second run is served from the cache without a single request.
	mf2, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	require.Equal(t, mf, mf2)
	require.Empty(t, f.requests())
}

func TestHubFallsBackToBin(t *testing.T) {
	f := newFakeHub(t)
	files := testModel("pytorch_model.bin", 50_000)
	delete(files, "preprocessor_config.json")
	commit := fakeCommit("bin")
	f.addCommit(testRepo, commit, files, "main")
	h := testHub(t, f)

	mf, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	require.Equal(t, "pytorch_model.bin", filepath.Base(mf.Weights))
	require.Empty(t, mf.Preprocessor)
	requireCachedFile(t, h, mf.Weights, sha256Hex(files["pytorch_model.bin"]), files["pytorch_model.bin"])
	root := filepath.Join(h.CacheDir, "models--acme--deit-test")
	for _, absent := range []string{"model.safetensors", "preprocessor_config.json"} {
		_, err := os.Stat(filepath.Join(root, ".no_exist", commit, absent))
		require.NoError(t, err, "absence of %s must be recorded like huggingface_hub does", absent)
	}

	// Offline, the markers tell that nothing is missing.
	f.requests()
	h.Offline = true
	mf2, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	require.Equal(t, mf, mf2)
	require.Empty(t, f.requests())
}

func TestHubDownloadResumesAfterCut(t *testing.T) {
	f := newFakeHub(t)
	files := testModel("model.safetensors", 200_000)
	f.addCommit(testRepo, fakeCommit("cut"), files, "main")
	f.cuts = []int{70_000} // the first CDN body dies after 70 kB
	h := testHub(t, f)

	mf, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	requireCachedFile(t, h, mf.Weights, sha256Hex(files["model.safetensors"]), files["model.safetensors"])
	require.Equal(t, []string{"", "bytes=70000-"}, f.cdnRanges())
}

func TestHubDownloadResumesNextRun(t *testing.T) {
	f := newFakeHub(t)
	files := testModel("model.safetensors", 100_000)
	f.addCommit(testRepo, fakeCommit("runs"), files, "main")
	f.cuts = []int{10_000, 10_000, 10_000, 10_000, 10_000} // every attempt of the first run dies
	h := testHub(t, f)

	_, err := h.Snapshot(context.Background(), testRepo)
	require.Error(t, err)
	require.Contains(t, err.Error(), f.cdn.URL+"/lfs/", "a network error names the URL")
	etag := sha256Hex(files["model.safetensors"])
	part, err := os.ReadFile(filepath.Join(h.CacheDir, "models--acme--deit-test", "blobs", etag+".incomplete"))
	require.NoError(t, err)
	require.Equal(t, files["model.safetensors"][:50_000], part, "the partial file holds exactly the bytes received")

	f.requests()
	mf, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	requireCachedFile(t, h, mf.Weights, etag, files["model.safetensors"])
	require.Equal(t, []string{"bytes=50000-"}, f.cdnRanges())
}

func TestHubDownloadPartialFiles(t *testing.T) {
	files := testModel("model.safetensors", 40_000)
	w := files["model.safetensors"]
	etag := sha256Hex(w)
	tests := []struct {
		name    string
		partial []byte
		noRange bool
		wantErr string // first run; a second run must then succeed
		ranges  []string
	}{
		{"server ignores Range: starts over", w[:5000], true, "", []string{"bytes=5000-"}},
		{"corrupt prefix caught by sha256", append([]byte("garbage"), w[7:9000]...), false, "sha256", []string{"bytes=9000-"}},
		{"longer than the file: starts over", append(append([]byte{}, w...), 1, 2, 3), false, "", []string{""}},
		{"complete but not renamed", w, false, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHub(t)
			f.addCommit(testRepo, fakeCommit("p"), files, "main")
			f.noRange = tc.noRange
			h := testHub(t, f)
			blobs := filepath.Join(h.CacheDir, "models--acme--deit-test", "blobs")
			require.NoError(t, os.MkdirAll(blobs, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(blobs, etag+".incomplete"), tc.partial, 0o644))

			mf, err := h.Snapshot(context.Background(), testRepo)
			require.Equal(t, tc.ranges, f.cdnRanges())
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				_, serr := os.Stat(filepath.Join(blobs, etag+".incomplete"))
				require.ErrorIs(t, serr, os.ErrNotExist, "a corrupt partial file is removed")
				mf, err = h.Snapshot(context.Background(), testRepo)
			}
			require.NoError(t, err)
			requireCachedFile(t, h, mf.Weights, etag, w)
		})
	}
}

func TestHubDownloadStalls(t *testing.T) {
	f := newFakeHub(t)
	files := testModel("model.safetensors", 30_000)
	f.addCommit(testRepo, fakeCommit("stall"), files, "main")
	f.stallAt = 12_345
	h := testHub(t, f)
	h.StallTimeout = 200 * time.Millisecond

	mf, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	requireCachedFile(t, h, mf.Weights, sha256Hex(files["model.safetensors"]), files["model.safetensors"])
	require.Equal(t, []string{"", "bytes=12345-"}, f.cdnRanges())
}

func TestHubErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fakeHub, h *Client)
		repo  string
		want  []string
	}{
		{"unknown repo", nil, "acme/nope", []string{"acme/nope", "not found", "HF_TOKEN", "401"}},
		{"private repo without token", func(f *fakeHub, h *Client) { f.token = "hf_x" }, testRepo,
			[]string{testRepo, "set HF_TOKEN"}},
		{"wrong token", func(f *fakeHub, h *Client) { f.token = "hf_x"; h.Token = "hf_y" }, testRepo,
			[]string{testRepo, "token in HF_TOKEN was refused"}},
		{"gated repo", func(f *fakeHub, h *Client) { f.token = "hf_x"; f.gated = true }, testRepo,
			[]string{"gated", "accept its terms", "HF_TOKEN"}},
		{"plain 404 server", func(f *fakeHub, h *Client) { f.plain404 = true }, testRepo,
			[]string{testRepo, "does not exist", "/acme/deit-test/resolve/main/config.json"}},
		{"unknown revision", nil, testRepo + "@v9", []string{`revision "v9" not found`, testRepo}},
		{"no weights", func(f *fakeHub, h *Client) { f.addCommit(testRepo, fakeCommit("nw"), testModel("", 0), "empty") },
			testRepo + "@empty", []string{"neither model.safetensors nor pytorch_model.bin"}},
		{"server down", func(f *fakeHub, h *Client) { f.hub.Close() }, testRepo,
			[]string{"/acme/deit-test/resolve/main/config.json"}},
		{"not a repo id", nil, "acme", []string{"not a Hugging Face repo id"}},
		{"bad revision", nil, testRepo + "@../../x", []string{"invalid revision"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHub(t)
			f.addCommit(testRepo, fakeCommit("e"), testModel("model.safetensors", 100), "main")
			h := testHub(t, f)
			if tc.setup != nil {
				tc.setup(f, h)
			}
			_, err := h.Snapshot(context.Background(), tc.repo)
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestHubContextCanceled(t *testing.T) {
	f := newFakeHub(t)
	f.addCommit(testRepo, fakeCommit("ctx"), testModel("model.safetensors", 100), "main")
	h := testHub(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Snapshot(ctx, testRepo)
	require.ErrorIs(t, err, context.Canceled)
}

func TestHubRevisions(t *testing.T) {
	f := newFakeHub(t)
	old, cur, pr := fakeCommit("old"), fakeCommit("new"), fakeCommit("pr")
	oldFiles, curFiles, prFiles := testModel("pytorch_model.bin", 1000), testModel("pytorch_model.bin", 2000), testModel("model.safetensors", 3000)
	f.addCommit(testRepo, old, oldFiles, "v1.0")
	f.addCommit(testRepo, cur, curFiles, "main")
	f.addCommit(testRepo, pr, prFiles, "refs/pr/1")
	h := testHub(t, f)
	root := filepath.Join(h.CacheDir, "models--acme--deit-test")

	tests := []struct {
		rev     string
		commit  string
		weights []byte
		ref     string // refs file written, "" for none
	}{
		{"", cur, curFiles["pytorch_model.bin"], "main"},
		{"@v1.0", old, oldFiles["pytorch_model.bin"], "v1.0"},
		{"@" + old, old, oldFiles["pytorch_model.bin"], ""},
		{"@refs/pr/1", pr, prFiles["model.safetensors"], "refs/pr/1"},
	}
	for _, tc := range tests {
		t.Run(tc.rev, func(t *testing.T) {
			mf, err := h.Snapshot(context.Background(), testRepo+tc.rev)
			require.NoError(t, err)
			require.Equal(t, filepath.Join(root, "snapshots", tc.commit), mf.Dir)
			got, err := os.ReadFile(mf.Weights)
			require.NoError(t, err)
			require.Equal(t, tc.weights, got)
			if tc.ref != "" {
				ref, err := os.ReadFile(filepath.Join(root, "refs", filepath.FromSlash(tc.ref)))
				require.NoError(t, err)
				require.Equal(t, tc.commit, string(ref))
			}
		})
	}
	entries, err := os.ReadDir(filepath.Join(root, "refs"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"main", "v1.0", "refs"}, names, "a commit hash gets no refs file")
	// Every file of a snapshot comes from its commit, named in the URL.
	for _, r := range f.requests() {
		if r.server == "hub" && !strings.HasSuffix(r.path, "config.json") {
			require.NotContains(t, r.path, "/resolve/main/", "later files are fetched by commit: %v", r)
		}
	}
}

func TestHubOffline(t *testing.T) {
	f := newFakeHub(t)
	commit := fakeCommit("off")
	files := testModel("model.safetensors", 500)
	f.addCommit(testRepo, commit, files, "main")

	h := testHub(t, f)
	h.Offline = true
	_, err := h.Snapshot(context.Background(), testRepo)
	require.Error(t, err)
	for _, w := range []string{"HF_HUB_OFFLINE", "vkdeit download " + testRepo, filepath.Join("models--acme--deit-test", "refs", "main")} {
		require.Contains(t, err.Error(), w)
	}

	// Config cached, weights not: the message names the missing weights.
	h.Offline = false
	_, err = h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	snap := filepath.Join(h.CacheDir, "models--acme--deit-test", "snapshots", commit)
	require.NoError(t, os.Remove(filepath.Join(snap, "model.safetensors")))
	h.Offline = true
	f.requests()
	_, err = h.Snapshot(context.Background(), testRepo+"@main")
	require.Error(t, err)
	for _, w := range []string{"model.safetensors or pytorch_model.bin missing", snap, "vkdeit download " + testRepo + "@main"} {
		require.Contains(t, err.Error(), w)
	}
	require.Empty(t, f.requests(), "offline mode must not touch the network")

	// Online again, only the missing file is fetched.
	h.Offline = false
	mf, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	requireCachedFile(t, h, mf.Weights, sha256Hex(files["model.safetensors"]), files["model.safetensors"])
	for _, r := range f.requests() {
		require.NotContains(t, r.path, "config.json", "cached files are not fetched again")
	}

	h.Offline = true
	mf2, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	require.Equal(t, mf, mf2)
}

// TestHubPythonCache builds by hand the tree huggingface_hub leaves after
// `hf_hub_download` / from_pretrained, and checks it is used as is.
func TestHubPythonCache(t *testing.T) {
	home := t.TempDir()
	cache := filepath.Join(home, ".cache", "huggingface", "hub")
	commit := fakeCommit("python")
	root := filepath.Join(cache, "models--facebook--deit-small-distilled-patch16-224")
	cfg := []byte(`{"model_type":"deit"}`)
	weights := randomBytes(4096, 1)
	for name, content := range map[string][]byte{
		"config.json":       cfg,
		"pytorch_model.bin": weights,
	} {
		etag := gitBlobSHA1(content)
		if name == "pytorch_model.bin" {
			etag = sha256Hex(content)
		}
		require.NoError(t, os.MkdirAll(filepath.Join(root, "blobs"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, "blobs", etag), content, 0o644))
		require.NoError(t, os.MkdirAll(filepath.Join(root, "snapshots", commit), 0o755))
		require.NoError(t, os.Symlink(filepath.Join("..", "..", "blobs", etag), filepath.Join(root, "snapshots", commit, name)))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "refs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "refs", "main"), []byte(commit), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".no_exist", commit), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, ".no_exist", commit, "model.safetensors"), nil, 0o644))

	for _, env := range []map[string]string{
		{"HF_HUB_CACHE": cache},
		{"HF_HOME": filepath.Join(home, ".cache", "huggingface")},
		{"XDG_CACHE_HOME": filepath.Join(home, ".cache")},
		{"HOME": home},
	} {
		for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME"} {
			t.Setenv(k, env[k])
		}
		t.Setenv("HF_HUB_OFFLINE", "1")
		mf, err := ResolveModel(context.Background(), "", nil) // "" is DefaultModel
		require.NoError(t, err)
		snap := filepath.Join(root, "snapshots", commit)
		require.Equal(t, modeldir.Files{Dir: snap, Weights: filepath.Join(snap, "pytorch_model.bin"), Config: filepath.Join(snap, "config.json")}, mf)
		got, err := os.ReadFile(mf.Weights)
		require.NoError(t, err)
		require.Equal(t, weights, got)
	}

	// Online, the only request is for the preprocessor config that
	// from_pretrained did not fetch; the Hub says it does not exist.
	f := newFakeHub(t)
	f.addCommit(DefaultModel, commit, map[string][]byte{"config.json": cfg, "pytorch_model.bin": weights}, "main")
	h := &Client{Endpoint: f.hub.URL, CacheDir: cache, HTTP: f.hub.Client()}
	mf, err := h.Snapshot(context.Background(), DefaultModel)
	require.NoError(t, err)
	require.Empty(t, mf.Preprocessor)
	reqs := f.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "/"+DefaultModel+"/resolve/"+commit+"/preprocessor_config.json", reqs[0].path)
	_, err = h.Snapshot(context.Background(), DefaultModel)
	require.NoError(t, err)
	require.Empty(t, f.requests(), "the absence is remembered in .no_exist")

	// Unreachable Hub: the cached model still works.
	require.NoError(t, os.Remove(filepath.Join(root, ".no_exist", commit, "preprocessor_config.json")))
	f.hub.Close()
	mf, err = h.Snapshot(context.Background(), DefaultModel)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "snapshots", commit, "pytorch_model.bin"), mf.Weights)
}

func TestHubRedirectVariants(t *testing.T) {
	files := testModel("model.safetensors", 5000)
	tests := []struct {
		name  string
		setup func(f *fakeHub)
		repo  string
	}{
		{"renamed repo (relative 307)", func(f *fakeHub) { f.renamed = map[string]string{"acme/old-name": testRepo} }, "acme/old-name"},
		{"mirror without X-Linked headers", func(f *fakeHub) { f.mirror = true }, testRepo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHub(t)
			commit := fakeCommit("redir")
			f.addCommit(testRepo, commit, files, "main")
			tc.setup(f)
			h := testHub(t, f)
			mf, err := h.Snapshot(context.Background(), tc.repo)
			require.NoError(t, err)
			folder := "models--" + strings.ReplaceAll(tc.repo, "/", "--")
			require.Equal(t, filepath.Join(h.CacheDir, folder, "snapshots", commit), mf.Dir)
			got, err := os.ReadFile(mf.Weights)
			require.NoError(t, err)
			require.Equal(t, files["model.safetensors"], got)
			link, err := os.Readlink(mf.Weights)
			require.NoError(t, err)
			require.Equal(t, filepath.Join("..", "..", "blobs", sha256Hex(files["model.safetensors"])), link)
		})
	}
}

func TestHubConcurrentSnapshots(t *testing.T) {
	f := newFakeHub(t)
	files := testModel("model.safetensors", 400_000)
	f.addCommit(testRepo, fakeCommit("conc"), files, "main")
	h := testHub(t, f)

	const n = 4
	results := make([]modeldir.Files, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = h.Snapshot(context.Background(), testRepo)
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, results[0], results[i])
	}
	requireCachedFile(t, h, results[0].Weights, sha256Hex(files["model.safetensors"]), files["model.safetensors"])
	var cdnGets int
	for _, r := range f.requests() {
		if r.server == "cdn" {
			cdnGets++
		}
	}
	require.Equal(t, 1, cdnGets, "the blob lock lets one download run; the others reuse its result")
}
