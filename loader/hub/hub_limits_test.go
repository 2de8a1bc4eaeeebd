package hub

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/internal/regfile/regfiletest"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// gets returns the GET requests seen so far, as "server path", and forgets
// all requests.
func (f *fakeHub) gets() []string {
	var out []string
	for _, r := range f.requests() {
		if r.method == "GET" {
			out = append(out, r.server+" "+r.path)
		}
	}
	return out
}

// TestHubAnnouncedSizeRefused has the HEAD announce sizes no file may have:
// a config.json of 200 MB and a preprocessor_config.json of 2 MB (over what
// deit and imageio read), weights of 1 EiB (more than any disk has free).
// Each is refused from the HEAD, before any GET.
func TestHubAnnouncedSizeRefused(t *testing.T) {
	for _, tc := range []struct {
		file, size, want string
	}{
		{"config.json", "200000000", "the server announces 200000000 bytes, more than the 16777216 a config.json may have"},
		{"preprocessor_config.json", "2000000", "the server announces 2000000 bytes, more than the 1048576 a preprocessor_config.json may have"},
		{"model.safetensors", "1152921504606846976", "1152921504606846976 more bytes (1048576.0 TiB) needed but"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := newFakeHub(t)
			files := testModel("model.safetensors", 10_000)
			f.addCommit(testRepo, fakeCommit("big"), files, "main")
			f.announce = map[string]string{tc.file: tc.size}
			h := testHub(t, f)
			if _, ok := freeSpace(h.CacheDir); !ok && tc.file == "model.safetensors" {
				t.Skip("free space cannot be asked here")
			}
			_, err := h.Snapshot(context.Background(), testRepo)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "/"+tc.file)
			require.False(t, retryable(err), "%v", err)
			for _, g := range f.gets() {
				require.False(t, strings.HasSuffix(g, "/"+tc.file) || strings.HasPrefix(g, "cdn "), "fetched %s", g)
			}
			requireNoIncomplete(t, h)
		})
	}
}

// TestHubUnsizedBodyCapped has the server announce no size anywhere
// (chunked bodies, no X-Linked-Size): a body longer than the file may be
// is cut one byte past the limit and refused, not retried, and nothing of
// it is kept; a body within the limit is downloaded as before.
func TestHubUnsizedBodyCapped(t *testing.T) {
	const limit = 100_000
	for _, tc := range []struct {
		name    string
		weights int // bytes of model.safetensors
		pad     int // bytes the CDN sends after them
		config  int // when > 0, bytes of config.json
		want    string
	}{
		{"weights within the limit", limit, 0, 0, ""},
		{"weights one byte over", limit + 1, 0, 0, "the server announced no size and sent more than the 100000 bytes a model.safetensors may have"},
		{"a 300 MB stream as weights", 1000, 300 << 20, 0, "sent more than the 100000 bytes a model.safetensors may have"},
		{"config.json over 16 MiB", 1000, 0, maxConfigBytes + 1, "sent more than the 16777216 bytes a config.json may have"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHub(t)
			files := testModel("model.safetensors", tc.weights)
			if tc.config > 0 {
				files["config.json"] = []byte("{" + strings.Repeat(" ", tc.config-2) + "}")
			}
			f.addCommit(testRepo, fakeCommit("unsized"), files, "main")
			f.unsized, f.pad = true, tc.pad
			h := testHub(t, f)
			h.maxUnsized = limit
			var mf modeldir.Files
			var err error
			regfiletest.Within(t, regfiletest.DefaultTimeout, func() { mf, err = h.Snapshot(context.Background(), testRepo) })
			if tc.want == "" {
				require.NoError(t, err)
				requireCachedFile(t, h, mf.Weights, sha256Hex(files["model.safetensors"]), files["model.safetensors"])
				return
			}
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "partial file removed")
			var ve *blobVerifyError
			require.True(t, errors.As(err, &ve), "%v", err)
			failed := "/model.safetensors"
			if tc.config > 0 {
				failed = "/config.json"
			}
			n := 0
			for _, g := range f.gets() {
				if strings.HasSuffix(g, failed) {
					n++
				}
			}
			require.Equal(t, 1, n, "a body too long is not fetched again")
			requireNoIncomplete(t, h)
		})
	}
}

// requireNoIncomplete checks that no partial download is left in h's cache.
func requireNoIncomplete(t *testing.T, h *Client) {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(h.CacheDir, "models--acme--deit-test", "blobs", "*.incomplete"))
	require.NoError(t, err)
	require.Empty(t, left)
}
