//go:build unix

package hub

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/internal/regfile/regfiletest"
)

// TestHubDiskFull makes every write of the download fail with ENOSPC (the
// partial file is /dev/full): the error is reported at once, not retried.
func TestHubDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	f := newFakeHub(t)
	files := testModel("model.safetensors", 50_000)
	f.addCommit(testRepo, fakeCommit("full"), files, "main")
	h := testHub(t, f)
	blobs := filepath.Join(h.CacheDir, "models--acme--deit-test", "blobs")
	require.NoError(t, os.MkdirAll(blobs, 0o755))
	require.NoError(t, os.Symlink("/dev/full", filepath.Join(blobs, sha256Hex(files["model.safetensors"])+".incomplete")))
	_, err := h.Snapshot(context.Background(), testRepo)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorContains(t, err, "no space left on device")
	require.Equal(t, 1, f.cdnGets(), "a full disk is not retried")
}

// writeCachedModel fills a cache by hand with refs/main → commit and the
// given snapshot files (name → content; nil makes a directory, "fifo" content
// a named pipe), returning the snapshot directory.
func writeCachedModel(t *testing.T, cache, commit string, files map[string][]byte) string {
	t.Helper()
	root := filepath.Join(cache, "models--acme--deit-test")
	makeFiles(t, root)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "refs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "refs", "main"), []byte(commit), 0o644))
	snap := filepath.Join(root, "snapshots", commit)
	require.NoError(t, os.MkdirAll(snap, 0o755))
	for name, b := range files {
		p := filepath.Join(snap, name)
		switch {
		case b == nil:
			require.NoError(t, os.Mkdir(p, 0o755))
		case string(b) == "fifo":
			require.NoError(t, syscall.Mkfifo(p, 0o644))
		default:
			require.NoError(t, os.WriteFile(p, b, 0o644))
		}
	}
	return snap
}

// TestHubSnapshotEntryNotRegular checks that a snapshot file that is there
// but is not a regular file is an error, not the default it would stand for.
func TestHubSnapshotEntryNotRegular(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"preprocessor config is a directory", map[string][]byte{"config.json": []byte("{}"), "model.safetensors": []byte("w"), "preprocessor_config.json": nil},
			"preprocessor_config.json is a directory, not a regular file"},
		{"preprocessor config is a FIFO", map[string][]byte{"config.json": []byte("{}"), "model.safetensors": []byte("w"), "preprocessor_config.json": []byte("fifo")},
			"preprocessor_config.json is a named pipe (FIFO), not a regular file"},
		{"weights are a FIFO", map[string][]byte{"config.json": []byte("{}"), "model.safetensors": []byte("fifo")},
			"model.safetensors is a named pipe (FIFO)"},
		{"config is a directory", map[string][]byte{"config.json": nil, "model.safetensors": []byte("w")},
			"config.json is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir(), Offline: true}
			writeCachedModel(t, h.CacheDir, fakeCommit("nr"), tc.files)
			var err error
			regfiletest.Within(t, regfiletest.DefaultTimeout, func() { _, err = h.Snapshot(context.Background(), testRepo) })
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestHubRefNotACommit points refs/main at files that hold no commit hash
// (a long text, a FIFO, a directory): the error shows at most a short,
// escaped prefix of the content and nothing hangs.
func TestHubRefNotACommit(t *testing.T) {
	secret := "root:x:0:0:root:/root:/bin/bash\n\x1b[2Jdaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n" + strings.Repeat("user:SECRET:1000\n", 500)
	for _, tc := range []struct {
		name string
		make func(t *testing.T, ref string)
		want string
	}{
		{"symlink to a long text file", func(t *testing.T, ref string) {
			p := filepath.Join(t.TempDir(), "passwd")
			require.NoError(t, os.WriteFile(p, []byte(secret), 0o644))
			require.NoError(t, os.Symlink(p, ref))
		}, `not a commit hash (starts with "root:x:0:0:root:/root:/bin/bash\n\x1b[2Jdaem")`},
		{"control characters", func(t *testing.T, ref string) {
			require.NoError(t, os.WriteFile(ref, []byte("\x1b[2J\x07abc"), 0o644))
		}, `(starts with "\x1b[2J\aabc")`},
		{"FIFO", func(t *testing.T, ref string) { require.NoError(t, syscall.Mkfifo(ref, 0o644)) }, "named pipe (FIFO)"},
		{"directory", func(t *testing.T, ref string) { require.NoError(t, os.Mkdir(ref, 0o755)) }, "a directory, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir(), Offline: true}
			refs := filepath.Join(h.CacheDir, "models--acme--deit-test", "refs")
			require.NoError(t, os.MkdirAll(refs, 0o755))
			tc.make(t, filepath.Join(refs, "main"))
			var err error
			regfiletest.Within(t, regfiletest.DefaultTimeout, func() { _, err = h.Snapshot(context.Background(), testRepo) })
			require.Error(t, err)
			msg := err.Error()
			require.Contains(t, msg, tc.want)
			require.NotContains(t, msg, "SECRET")
			require.NotContains(t, msg, "\x1b")
			require.Less(t, len(msg), 400, msg)
		})
	}
}

// TestResolveModelNotRegular checks that FIFOs, directories and dangling
// symlinks where model files belong are errors, and that nothing blocks.
func TestResolveModelNotRegular(t *testing.T) {
	h := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir(), Offline: true}
	for _, tc := range []struct {
		name string
		make func(t *testing.T, dir string) string // returns the argument
		want string
	}{
		{"FIFO as the model", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "model.safetensors")
			require.NoError(t, syscall.Mkfifo(p, 0o644))
			return p
		}, "is a named pipe (FIFO), not a weights file or a model directory"},
		{"FIFO config.json beside the weights", func(t *testing.T, dir string) string {
			makeFiles(t, dir, "model.safetensors")
			require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "config.json"), 0o644))
			return filepath.Join(dir, "model.safetensors")
		}, "config.json is a named pipe (FIFO), not a regular file"},
		{"directory preprocessor config in a model dir", func(t *testing.T, dir string) string {
			makeFiles(t, dir, "model.safetensors", "config.json")
			require.NoError(t, os.Mkdir(filepath.Join(dir, "preprocessor_config.json"), 0o755))
			return dir
		}, "preprocessor_config.json is a directory, not a regular file"},
		{"dangling config.json", func(t *testing.T, dir string) string {
			makeFiles(t, dir, "model.safetensors")
			require.NoError(t, os.Symlink("nowhere.json", filepath.Join(dir, "config.json")))
			return dir
		}, "config.json is a symbolic link to a file that does not exist"},
		{"FIFO model.safetensors in a model dir", func(t *testing.T, dir string) string {
			makeFiles(t, dir, "pytorch_model.bin")
			require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "model.safetensors"), 0o644))
			return dir
		}, "model.safetensors is a named pipe (FIFO)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arg := tc.make(t, t.TempDir())
			var err error
			regfiletest.Within(t, regfiletest.DefaultTimeout, func() { _, err = ResolveModel(context.Background(), arg, h) })
			require.ErrorContains(t, err, tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "hub: "), err.Error())
		})
	}
}

// TestReadRegularRefused checks the helpers every hub read goes through,
// and that a token file that is a FIFO is ignored without blocking.
func TestReadRegularRefused(t *testing.T) {
	regfiletest.RequireRefused(t, func(p string) error {
		_, err := readRegular(p, 100)
		return err
	}, regfiletest.Want{Name: "token", Limit: 100, Accept: []byte("hf_x")})
	regfiletest.RequireRefused(t, func(p string) error {
		f, err := openRegular(p)
		if err == nil {
			f.Close()
		}
		return err
	}, regfiletest.Want{Name: "model.safetensors", Accept: []byte("w")})

	p := filepath.Join(t.TempDir(), "token")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", p)
	var token string
	regfiletest.Within(t, regfiletest.DefaultTimeout, func() { token = envToken() })
	require.Empty(t, token)
}
