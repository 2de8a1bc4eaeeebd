package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// helperServeEnv makes the test binary run `vkdeit serve` (TestHelperServe)
// instead of its tests: a real server process for TestClassifyServers.
const helperServeEnv = "VKDEIT_TEST_HELPER_SERVE"

// TestHelperServe is `vkdeit` itself when the test binary is started by
// startServeProcess; otherwise it does nothing.
func TestHelperServe(t *testing.T) {
	if os.Getenv(helperServeEnv) == "" {
		t.Skip("runs only as a server process of TestClassifyServers")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	e := newEnv(os.Stdin, os.Stdout, os.Stderr)
	os.Exit(e.run(context.Background(), args))
}

// serveProcess is a `vkdeit serve` process on loopback.
type serveProcess struct {
	cmd    *exec.Cmd
	rest   string
	grpc   string
	stderr *syncBuffer
}

// startServeProcess starts `vkdeit serve` on the tiny model and the
// reference engine in a process of its own and waits (at most 30 s) until
// it is ready; the test's end kills it.
func startServeProcess(t *testing.T) *serveProcess {
	t.Helper()
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	p := &serveProcess{rest: "http://" + httpAddr, grpc: "grpc://" + grpcAddr, stderr: &syncBuffer{}}
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperServe$", "--", "serve", "--model", tinyDir, "--device", "ref",
		"--http", httpAddr, "--grpc", grpcAddr, "--log-format", "text", "--max-batch", "4")
	p.cmd.Env = append(os.Environ(), helperServeEnv+"=1")
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	exited := make(chan struct{})
	go func() { p.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-exited
	})
	waitReady(t, p.rest, func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}, p.stderr.String)
	return p
}

// lineHook is a stdout that calls hook after its n-th line.
type lineHook struct {
	mu    sync.Mutex
	b     bytes.Buffer
	lines int
	n     int
	hook  func()
}

func (l *lineHook) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	before := l.lines
	l.lines += bytes.Count(p, []byte("\n"))
	if before < l.n && l.lines >= l.n {
		l.hook()
	}
	return len(p), nil
}

// manyImages writes n small PNG images of different sizes and one file
// that is not an image, and returns the directory.
func manyImages(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		img := testImage(30+i%9, 28+i%5, uint8(i*17))
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("img%03d.png", i)), encodePNG(t, img), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "img010x.png"), []byte("not an image"), 0o644))
	return dir
}

// jsonPaths are the "path" of each JSON line, in order.
func jsonPaths(t *testing.T, out string) []string {
	t.Helper()
	var paths []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r classifyJSON
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		paths = append(paths, r.Path)
	}
	return paths
}

// sameRows checks that remote JSON lines hold the local run's paths,
// errors and predictions, line for line.
func sameRows(t *testing.T, local, remote string) {
	t.Helper()
	ll := strings.Split(strings.TrimSpace(local), "\n")
	rl := strings.Split(strings.TrimSpace(remote), "\n")
	require.Len(t, rl, len(ll))
	for i := range ll {
		var l, r classifyJSON
		require.NoError(t, json.Unmarshal([]byte(ll[i]), &l))
		require.NoError(t, json.Unmarshal([]byte(rl[i]), &r))
		require.Equal(t, l.Path, r.Path, "line %d", i)
		require.Equal(t, l.Error == "", r.Error == "", "line %d: %s / %s", i, l.Error, r.Error)
		require.Equal(t, l.Predictions, r.Predictions, "line %d", i)
	}
}

// TestClassifyServers: classify --server over two `vkdeit serve`
// processes, one killed (SIGKILL) mid-run, gives the local run's output:
// every image once, in order, the same predictions; embed --server gives
// the local embeddings.
func TestClassifyServers(t *testing.T) {
	a, b := startServeProcess(t), startServeProcess(t)
	dir := manyImages(t, 40)
	code, want, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--json", "--top", "3", dir)
	require.Equal(t, 1, code, errs) // the bad image
	require.Len(t, jsonPaths(t, want), 41)

	for _, tt := range []struct {
		name    string
		servers string
		extra   []string
	}{
		{"rest", a.rest + "," + b.rest, nil},
		{"grpc pixels", a.grpc + "," + b.grpc, []string{"--server-input", "pixels"}},
	} {
		code, got, errs := runCLI(t, nil, append([]string{"classify", "--model", tinyDir, "--server", tt.servers, "--json", "--top", "3", dir}, tt.extra...)...)
		require.Equal(t, 1, code, "%s: %s", tt.name, errs)
		require.Contains(t, errs, "1 of 41 inputs could not be classified", tt.name)
		sameRows(t, want, got)
	}

	code, wantEmb, errs := runCLI(t, nil, "embed", "--model", tinyDir, "--device", "ref", dir)
	require.Equal(t, 1, code, errs)
	code, gotEmb, errs := runCLI(t, nil, "embed", "--model", tinyDir, "--server", b.grpc+"/v2/models/tiny-distilled", dir)
	require.Equal(t, 1, code, errs)
	require.Equal(t, wantEmb, gotEmb)

	// a dies after the 5th result: its requests go to b.
	killed := false
	stdout := &lineHook{n: 5, hook: func() {
		require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
		killed = true
	}}
	var stderr syncBuffer
	e := newEnv(nil, stdout, &stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = e.run(ctx, []string{"classify", "--model", tinyDir, "--server", a.rest + "," + b.rest, "--in-flight", "4", "--json", "--top", "3", dir})
	require.True(t, killed)
	require.Equal(t, 1, code, stderr.String())
	sameRows(t, want, stdout.b.String())
	require.Contains(t, stderr.String(), "server "+a.rest+": ")
}

// TestResumeAndFilesFrom: --resume keeps the rows a killed run wrote,
// drops its cut-short last row and runs only the rest; --files-from
// streams paths from a file or standard input.
func TestResumeAndFilesFrom(t *testing.T) {
	dir := manyImages(t, 6)
	code, want, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--json", dir)
	require.Equal(t, 1, code, errs)
	lines := strings.SplitAfter(want, "\n")
	paths := jsonPaths(t, want)

	list := filepath.Join(t.TempDir(), "list.txt")
	require.NoError(t, os.WriteFile(list, []byte(strings.Join(paths[:4], "\n")+"\n\n"+strings.Join(paths[4:], "\r\n")), 0o644))
	code, got, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--json", "--files-from", list)
	require.Equal(t, 1, code, errs)
	sameRows(t, want, got) // --files-from: the same rows as the directory
	code, got, errs = runCLI(t, []byte(strings.Join(paths[2:], "\n")), "classify", "--model", tinyDir, "--device", "ref",
		"--json", "--files-from", "-", paths[0])
	require.Equal(t, 1, code, errs)
	sameRows(t, lines[0]+strings.Join(lines[2:], ""), got) // arguments first, then standard input's list

	// A run killed after 3 rows, in the middle of the 4th.
	out := filepath.Join(t.TempDir(), "out.jsonl")
	partial := lines[0] + lines[1] + lines[2] + lines[3][:20]
	require.NoError(t, os.WriteFile(out, []byte(partial), 0o640))
	code, _, errs = runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--json", "--resume", "-o", out, dir)
	require.Equal(t, 1, code, errs)
	require.Contains(t, errs, "3 inputs already done, skipped")
	require.Contains(t, errs, "1 of 4 inputs could not be classified")
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), lines[0]+lines[1]+lines[2]+"{"), "the rows kept as they were, the cut one dropped")
	sameRows(t, want, string(data)) // every input once, in order
	st, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "appended to, not replaced")
	// Everything done: nothing runs, nothing changes.
	code, _, errs = runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--json", "--resume", "-o", out, dir)
	require.Equal(t, 0, code, errs)
	require.Contains(t, errs, "7 inputs already done, skipped")
	again, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, string(data), string(again))

	// CSV: a row cut short inside a quoted field, then resumed.
	code, wantCSV, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--format", "csv", "--top", "2", dir)
	require.Equal(t, 1, code, errs)
	rows := strings.SplitAfter(wantCSV, "\n")
	csvOut := filepath.Join(t.TempDir(), "out.csv")
	require.NoError(t, os.WriteFile(csvOut, []byte(rows[0]+rows[1]+rows[2]+`"`+rows[3][:10]), 0o644))
	code, _, errs = runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--format", "csv", "--top", "2", "--resume", "-o", csvOut, dir)
	require.Equal(t, 1, code, errs)
	require.Contains(t, errs, "2 inputs already done, skipped")
	data, err = os.ReadFile(csvOut)
	require.NoError(t, err)
	require.Equal(t, wantCSV, string(data))
	code, _, errs = runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--format", "csv", "--top", "3", "--resume", "-o", csvOut, dir)
	require.Equal(t, 1, code)
	require.Contains(t, errs, "has 2 predictions per row, this run writes 3 (--top)")

	// embed --resume, JSON lines.
	code, wantEmb, errs := runCLI(t, nil, "embed", "--model", tinyDir, "--device", "ref", dir)
	require.Equal(t, 1, code, errs)
	embOut := filepath.Join(t.TempDir(), "emb.jsonl")
	require.NoError(t, os.WriteFile(embOut, []byte(strings.SplitAfter(wantEmb, "\n")[0]), 0o644))
	code, _, errs = runCLI(t, nil, "embed", "--model", tinyDir, "--device", "ref", "--resume", "-o", embOut, dir)
	require.Equal(t, 1, code, errs)
	data, err = os.ReadFile(embOut)
	require.NoError(t, err)
	require.Equal(t, wantEmb, string(data))
}

// TestRemoteFlagErrors: flags that cannot work together are usage
// errors naming them; a bad list or results file names the file.
func TestRemoteFlagErrors(t *testing.T) {
	img := "../../samples/grace_hopper.jpg"
	notJSON := filepath.Join(t.TempDir(), "out.jsonl")
	require.NoError(t, os.WriteFile(notJSON, []byte("path,label_1\n"), 0o644))
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"classify", "--resume", img}, 2, "classify: --resume needs --output FILE"},
		{[]string{"classify", "--resume", "-o", "x.txt", img}, 2, "--resume works with --format json or csv (the formats that name each input), not table"},
		{[]string{"embed", "--resume", "--format", "npy", "-o", "x.npy", img}, 2, "--resume works with --format json or csv"},
		{[]string{"classify", "--server", "http://127.0.0.1:1", "--device", "cpu", img}, 2, "--device has no effect with --server"},
		{[]string{"classify", "--server", "http://127.0.0.1:1", "--in-flight", "0", img}, 2, "--in-flight must be ≥ 1, got 0"},
		{[]string{"classify", "--server-input", "jpeg", img}, 2, `--server-input must be auto, image or pixels, not "jpeg"`},
		{[]string{"classify", "--files-from", "-", "-"}, 2, "standard input cannot hold both"},
		{[]string{"classify", "--model", tinyDir, "--device", "ref", "--files-from", "/nonexistent/list"}, 1, "--files-from /nonexistent/list: no such file or directory"},
		{[]string{"classify", "--model", tinyDir, "--device", "ref", "--json", "--resume", "-o", notJSON, img}, 1,
			"--resume: " + notJSON + ": line 1 is not a JSON object with a \"path\""},
		{[]string{"classify", "--server", "ftp://h:1", img}, 1, `scheme "ftp": want http, https, grpc or grpcs`},
		{[]string{"classify", "--server", "http://" + freeAddr(t), img}, 1, "remote: no server answered"},
	} {
		code, _, errs := runCLI(t, nil, tt.args...)
		require.Equal(t, tt.code, code, "%v: %s", tt.args, errs)
		require.Contains(t, errs, tt.msg, "%v", tt.args)
	}
}
