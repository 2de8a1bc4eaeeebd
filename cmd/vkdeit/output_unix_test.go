//go:build unix

package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// --output to a named pipe writes into the pipe; the pipe stays a pipe (it
// used to be replaced by a regular file, like /dev/full and any device).
func TestOutputFIFO(t *testing.T) {
	_, good := mixedDir(t)
	fifo := filepath.Join(t.TempDir(), "results.fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// Opened for reading and writing, the pipe has a reader at once, so
	// neither this open nor the command's blocks; the output (one line)
	// fits the pipe's buffer.
	r, err := os.OpenFile(fifo, os.O_RDWR, 0)
	require.NoError(t, err)
	defer r.Close()

	code, stdout, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--json", "--quiet", "--output", fifo, good[0])
	require.Equal(t, 0, code, errs)
	require.Empty(t, stdout)
	fi, err := os.Lstat(fifo)
	require.NoError(t, err)
	require.Equal(t, fs.ModeNamedPipe, fi.Mode().Type(), "still a named pipe")

	require.NoError(t, r.SetReadDeadline(time.Now().Add(10*time.Second)))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.HasSuffix(got, []byte("\n")) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		require.NoError(t, err, "read %q", got)
	}
	require.Contains(t, string(got), `"predictions"`)
	require.Contains(t, string(got), filepath.Base(good[0]))
	ents, err := os.ReadDir(filepath.Dir(fifo))
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temporary file: %v", ents)

	// npy rewrites its header at the end: a pipe is refused before anything
	// is opened or loaded.
	code, _, errs = runCLI(t, nil, "embed", "--model", tinyDir, "--device", "ref", "--format", "npy", "--output", fifo, good[0])
	require.Equal(t, 1, code, errs)
	require.Contains(t, errs, "vkdeit: --output "+fifo+": a named pipe (FIFO), not a regular file: this format rewrites its header at the end")
}

// --output through a symbolic link replaces the link's target, atomically,
// and leaves the link a link: relative links, chains of links and a
// dangling link (its target is created) alike.
func TestOutputSymlink(t *testing.T) {
	_, good := mixedDir(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o755))
	target := filepath.Join(sub, "real.json")
	require.NoError(t, os.WriteFile(target, []byte("old"), 0o640))
	require.NoError(t, os.Chmod(target, 0o640))
	require.NoError(t, os.Symlink("sub/real.json", filepath.Join(dir, "link1.json")))
	require.NoError(t, os.Symlink("link1.json", filepath.Join(dir, "link2.json")))
	require.NoError(t, os.Symlink(filepath.Join(sub, "new.json"), filepath.Join(dir, "dangling.json")))

	cases := []struct{ link, target, linkTo string }{
		{"link2.json", target, "link1.json"},
		{"link1.json", target, "sub/real.json"},
		{"dangling.json", filepath.Join(sub, "new.json"), filepath.Join(sub, "new.json")},
	}
	for _, c := range cases {
		t.Run(c.link, func(t *testing.T) {
			link := filepath.Join(dir, c.link)
			code, _, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--json", "--quiet", "--output", link, good[0])
			require.Equal(t, 0, code, errs)
			to, err := os.Readlink(link)
			require.NoError(t, err, "still a link")
			require.Equal(t, c.linkTo, to)
			b, err := os.ReadFile(c.target)
			require.NoError(t, err)
			require.Contains(t, string(b), `"predictions"`)
		})
	}
	fi, err := os.Stat(target)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o640), fi.Mode().Perm(), "the replaced file keeps its mode")
	for _, d := range []string{dir, sub} {
		ents, err := os.ReadDir(d)
		require.NoError(t, err)
		for _, e := range ents {
			require.False(t, strings.HasSuffix(e.Name(), ".tmp"), "temporary file left: %s", e.Name())
		}
	}
}

// A new --output file gets 0666 less the umask (as the shell's ">" would
// give it, not the temporary file's 0600); a replaced one keeps its mode.
func TestOutputMode(t *testing.T) {
	_, good := mixedDir(t)
	dir := t.TempDir()
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	existing := filepath.Join(dir, "existing.csv")
	require.NoError(t, os.WriteFile(existing, []byte("old"), 0o600))
	require.NoError(t, os.Chmod(existing, 0o604))
	for path, want := range map[string]fs.FileMode{filepath.Join(dir, "new.csv"): 0o640, existing: 0o604} {
		code, _, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--format", "csv", "--quiet", "--output", path, good[0])
		require.Equal(t, 0, code, errs)
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, want, fi.Mode().Perm(), path)
	}
}

// What --output names is judged without touching it: devices and this
// process's open files are written directly, directories refused. (Only
// looked at: no test writes to /dev.)
func TestOutputTarget(t *testing.T) {
	tg, err := outputTargetOf("/dev/null")
	require.NoError(t, err)
	require.True(t, tg.direct, "a device is written directly")
	require.Equal(t, fs.ModeCharDevice, tg.mode.Type()&fs.ModeCharDevice)

	if _, err := os.Stat("/dev/stdout"); err == nil {
		// Whatever the test's stdout is (a pipe, a terminal, a file), it
		// is written directly, not replaced.
		tg, err := outputTargetOf("/dev/stdout")
		require.NoError(t, err)
		require.True(t, tg.direct)
	}

	dir := t.TempDir()
	_, err = outputTargetOf(dir)
	require.ErrorContains(t, err, "is a directory")
	code, _, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--output", dir, "x.png")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "vkdeit: --output "+dir+": is a directory")

	loop := filepath.Join(dir, "loop")
	require.NoError(t, os.Symlink("loop", loop))
	_, err = outputTargetOf(loop)
	require.Error(t, err)
	require.True(t, errors.Is(err, syscall.ELOOP) || strings.Contains(err.Error(), "symbolic links"), "%v", err)
}
