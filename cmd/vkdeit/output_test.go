package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

func TestClassifyCSV(t *testing.T) {
	dir, good := mixedDir(t)
	out := filepath.Join(t.TempDir(), "results.csv")
	code, stdout, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--format", "csv",
		"--top", "2", "--output", out, dir)
	require.Equal(t, 1, code, errs)
	require.Empty(t, stdout, "with --output nothing goes to stdout")
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"path", "label_1", "score_1", "index_1", "label_2", "score_2", "index_2", "error"}, rows[0])
	require.Len(t, rows, 6, "a header and one row per input, failed ones included")
	m := loadTiny(t)
	byPath := map[string][]string{}
	for _, r := range rows[1:] {
		byPath[r[0]] = r
	}
	for _, p := range good {
		r := byPath[p]
		require.NotNil(t, r, p)
		want, err := classify.TopK(expectedLogits(t, m, p), 2, m.Config.Labels)
		require.NoError(t, err)
		require.Equal(t, want[0].Label, r[1])
		score, err := strconv.ParseFloat(r[2], 64)
		require.NoError(t, err)
		require.InDelta(t, want[0].Score, score, 1e-6)
		require.Equal(t, strconv.Itoa(want[1].Index), r[6])
		require.Empty(t, r[7])
	}
	r := byPath[filepath.Join(dir, "e_text.jpg")]
	require.NotNil(t, r)
	require.Empty(t, r[1])
	require.Contains(t, r[7], "e_text.jpg")
	require.Contains(t, errs, "3 of 5 inputs could not be classified")
}

func TestClassifyJSONErrorLines(t *testing.T) {
	dir, _ := mixedDir(t)
	code, out, _ := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--json", "--quiet", dir)
	require.Equal(t, 1, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5)
	failed := 0
	for _, l := range lines {
		var r classifyJSON
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		if r.Error != "" {
			failed++
			require.Empty(t, r.Predictions)
			require.Contains(t, r.Error, filepath.Base(r.Path))
		}
	}
	require.Equal(t, 3, failed)
}

// TestOutputIsAtomic: a run that fails outright leaves no --output file and
// does not replace an older one.
func TestOutputIsAtomic(t *testing.T) {
	_, good := mixedDir(t)
	out := filepath.Join(t.TempDir(), "r.json")
	require.NoError(t, os.WriteFile(out, []byte("old"), 0o644))
	code, _, errs := runCLI(t, nil, "classify", "--model", t.TempDir(), "--format", "json", "--output", out, good[0])
	require.Equal(t, 1, code, errs)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "old", string(b))
	ents, err := os.ReadDir(filepath.Dir(out))
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temporary file left behind: %v", ents)

	code, _, errs = runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--format", "json", "--output", out, good[0])
	require.Equal(t, 0, code, errs)
	b, err = os.ReadFile(out)
	require.NoError(t, err)
	require.Contains(t, string(b), `"predictions"`)
}

// failWriter fails every write, like stdout redirected to /dev/full.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

func TestWriteErrorsFail(t *testing.T) {
	_, good := mixedDir(t)
	for _, format := range []string{"table", "json", "csv"} {
		var errb bytes.Buffer
		code := newEnv(nil, failWriter{}, &errb).run(context.Background(),
			[]string{"classify", "--model", tinyDir, "--device", "ref", "--format", format, good[0]})
		require.Equal(t, 1, code, format)
		require.Contains(t, errb.String(), "vkdeit: writing output: no space left on device", format)
		require.Equal(t, 1, strings.Count(errb.String(), "no space left"), "one line: %s", errb.String())
	}
	if f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0); err == nil {
		defer f.Close()
		var errb bytes.Buffer
		code := newEnv(nil, f, &errb).run(context.Background(), []string{"version"})
		require.Equal(t, 1, code)
		require.Contains(t, errb.String(), "writing output")
	}
}

func TestInterruptExitStatus(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interrupted{syscall.SIGTERM})
	var errb bytes.Buffer
	e := newEnv(nil, &bytes.Buffer{}, &errb)
	removed := false
	e.atExit(func() { removed = true })
	code := e.finish(ctx, context.Canceled)
	require.Equal(t, 128+15, code)
	require.Equal(t, "vkdeit: interrupted (terminated)\n", errb.String())
	require.True(t, removed, "partial outputs are removed")
	require.Equal(t, 130, interrupted{os.Interrupt}.code())
}

func TestEmbed(t *testing.T) {
	_, good := mixedDir(t)
	m := loadTiny(t)
	px, err := classify.Prepare(context.Background(), m, classify.Input{Path: good[0]}, imageioOpts())
	require.NoError(t, err)
	want, err := engine.RunReference(context.Background(), m, px, 1, deit.TapEmbeddings)
	require.NoError(t, err)
	D := m.Config.Hidden

	code, out, errs := runCLI(t, nil, "embed", "--model", tinyDir, "--device", "ref", good[0], filepath.Join(t.TempDir(), "missing.png"))
	require.Equal(t, 1, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, "a missing path is an argument error, reported on stderr")
	var rec embedJSON
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	require.Equal(t, good[0], rec.Path)
	require.Equal(t, want.Embeddings[:D], rec.Embedding)
	require.Equal(t, want.Embeddings[D:2*D], rec.DistillationEmbedding)

	dir := t.TempDir()
	npyPath := filepath.Join(dir, "emb.npy")
	code, _, errs = runCLI(t, nil, "embed", "--model", tinyDir, "--device", "ref", "--format", "npy", "--output", npyPath, good[0], good[1])
	require.Equal(t, 0, code, errs)
	b, err := os.ReadFile(npyPath)
	require.NoError(t, err)
	require.Equal(t, "\x93NUMPY", string(b[:6]))
	hl := int(binary.LittleEndian.Uint16(b[8:]))
	require.Contains(t, string(b[10:10+hl]), "'shape': (2, 64)")
	body := b[10+hl:]
	require.Len(t, body, 2*D*4)
	for i := range D {
		require.Equal(t, want.Embeddings[i], math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:])), "element %d", i)
	}
	paths, err := os.ReadFile(filepath.Join(dir, "emb.paths.txt"))
	require.NoError(t, err)
	require.Equal(t, good[0]+"\n"+good[1]+"\n", string(paths))
}

func TestNotesAndQuiet(t *testing.T) {
	// A timm checkpoint without config.json: the model's note is printed
	// once, and --quiet silences it with the "running on" line.
	dir := t.TempDir()
	for src, dst := range map[string]string{"tiny-distilled-timm/model.pth": "model.pth",
		"tiny-distilled/preprocessor_config.json": "preprocessor_config.json"} {
		data, err := os.ReadFile("../../testdata/" + src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, dst), data, 0o644))
	}
	_, good := mixedDir(t)
	code, _, errs := runCLI(t, nil, "classify", "--model", dir, "--device", "ref", good[0])
	require.Equal(t, 0, code, errs)
	require.Equal(t, 1, strings.Count(errs, "LayerNorm eps 1e-06"), errs)
	require.Contains(t, errs, "vkdeit: running on reference")
	code, _, errs = runCLI(t, nil, "classify", "--model", dir, "--device", "ref", "--quiet", good[0])
	require.Equal(t, 0, code, errs)
	require.Empty(t, errs)
}

// The atomic writer's errors name the --output path, never its temporary
// file: opening, writing, renaming into place.
func TestOutputFileErrors(t *testing.T) {
	e := newEnv(nil, &bytes.Buffer{}, &bytes.Buffer{})
	missing := filepath.Join(t.TempDir(), "no", "dir", "x.csv")
	_, err := openOutput(e, missing)
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
	require.EqualError(t, err, "--output "+missing+": creating a file in "+filepath.Dir(missing)+": no such file or directory")

	dir := filepath.Join(t.TempDir(), "d")
	require.NoError(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "x.csv")
	o, err := openOutput(e, path)
	require.NoError(t, err)
	_, err = io.WriteString(o, "a,b\n")
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dir)) // the rename into place fails
	err = o.Commit()
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
	require.EqualError(t, err, path+": no such file or directory")

	o, err = openOutput(e, filepath.Join(t.TempDir(), "y.csv"))
	require.NoError(t, err)
	defer o.Discard()
	o.f.Close() // the next write fails
	_, err = io.WriteString(o, "a,b\n")
	require.ErrorIs(t, err, os.ErrClosed)
	require.EqualError(t, err, "writing "+o.path+": file already closed")
	require.Equal(t, err, o.Commit())
}

func imageioOpts() imageio.DecodeOptions { return imageio.DecodeOptions{} }

// classify and embed limit the Go heap to the decode budget plus what the
// model and engine hold (imageio.Budget.LimitProcessMemory), so that the
// decoders' garbage is collected before the process outgrows the budget.
// The tiny model and the reference engine hold a few MiB; the test binary
// some more.
func TestDecodeMemoryLimit(t *testing.T) {
	_, good := mixedDir(t)
	prev := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prev)
	for _, cmd := range []string{"classify", "embed"} {
		debug.SetMemoryLimit(math.MaxInt64)
		var errb bytes.Buffer // not runCLI, which restores the limit
		code := newEnv(nil, &bytes.Buffer{}, &errb).run(context.Background(),
			[]string{cmd, "--model", tinyDir, "--device", "ref", "--decode-memory", "64", good[0]})
		require.Equal(t, 0, code, errb.String())
		limit := debug.SetMemoryLimit(-1)
		require.GreaterOrEqual(t, limit, int64(64<<20+imageio.MemoryHeadroom), cmd)
		require.Less(t, limit, int64(64<<20+imageio.MemoryHeadroom+256<<20), cmd)
	}
}

func TestDecodeLimits(t *testing.T) {
	_, good := mixedDir(t)
	code, _, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--max-pixels", "1000", good[0])
	require.Equal(t, 1, code, errs)
	require.Contains(t, errs, "a_good.png: image too large: PNG image of 50x37 pixels exceeds the limit of 1000 pixels (--max-pixels raises the limit)")
	require.NotContains(t, errs, "DecodeOptions", "the flag, not the Go field")
	code, out, errs := runCLI(t, nil, "classify", "--help")
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "--max-pixels int")
	require.Contains(t, out, "(default 178956970)", "Pillow's error threshold, 2 × 89,478,485")
	code, _, errs = runCLI(t, nil, "classify", "--decode-memory", "0", good[0])
	require.Equal(t, 2, code, errs)
	require.Contains(t, errs, "--decode-memory must be between 1 and")
}

// TestOutputFormatFromExtension: without --format the --output file's
// extension picks the format (results.csv is CSV, emb.npy an npy array);
// a --format contradicting the extension, or an extension the command
// cannot write, is a usage error and writes nothing.
func TestOutputFormatFromExtension(t *testing.T) {
	_, good := mixedDir(t)
	tiny := absTiny(t)
	tests := []struct {
		name   string
		args   []string // before --output FILE and the image
		file   string
		code   int
		prefix string // of the file written; "" when nothing may be written
		errMsg string
	}{
		{"classify .csv", []string{"classify"}, "results.csv", 0, "path,label_1,score_1,index_1", ""},
		{"classify .CSV", []string{"classify"}, "RESULTS.CSV", 0, "path,label_1", ""},
		{"classify .jsonl", []string{"classify"}, "results.jsonl", 0, `{"path":`, ""},
		{"classify .json", []string{"classify"}, "results.json", 0, `{"path":`, ""},
		{"classify .txt is the table", []string{"classify"}, "results.txt", 0, good[0] + "\n  1", ""},
		{"classify --format csv .txt", []string{"classify", "--format", "csv"}, "results.txt", 0, "path,label_1", ""},
		{"classify --format csv .csv", []string{"classify", "--format", "csv"}, "results.csv", 0, "path,label_1", ""},
		{"classify --format json .csv", []string{"classify", "--format", "json"}, "results.csv", 2, "",
			"classify: --output results.csv names a csv file but --format is json: drop --format or rename the file"},
		{"classify --json .csv", []string{"classify", "--json"}, "results.csv", 2, "", "names a csv file but --format is json"},
		{"classify .npy", []string{"classify"}, "results.npy", 2, "", "classify: --output results.npy: classify cannot write .npy files (formats: table, json, csv)"},
		{"embed .npy", []string{"embed"}, "emb.npy", 0, "\x93NUMPY", ""},
		{"embed .jsonl", []string{"embed"}, "emb.jsonl", 0, `{"path":`, ""},
		{"embed --format json .npy", []string{"embed", "--format", "json"}, "emb.npy", 2, "", "names a npy file but --format is json"},
		{"embed .csv", []string{"embed"}, "emb.csv", 2, "", "embed cannot write .csv files (formats: json, npy)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			args := append(append([]string{}, tc.args...), "--model", tiny, "--device", "ref", "--output", tc.file, good[0])
			code, _, errs := runCLI(t, nil, args...)
			require.Equal(t, tc.code, code, errs)
			b, err := os.ReadFile(filepath.Join(dir, tc.file))
			if tc.prefix == "" {
				require.ErrorIs(t, err, os.ErrNotExist, "nothing written")
				require.Contains(t, errs, tc.errMsg)
				return
			}
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(string(b), tc.prefix), "%q", b)
		})
	}
}

// absTiny is tinyDir as an absolute path, for tests that change directory.
func absTiny(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(tinyDir)
	require.NoError(t, err)
	return p
}

// TestTableIndexColumnPadded: the table's class-index column is as wide as
// the model's largest index (not --top's), so rows line up.
func TestTableIndexColumnPadded(t *testing.T) {
	var b bytes.Buffer
	rw := &resultWriter{w: &b, format: "table", k: 3, labels: 1000}
	require.NoError(t, rw.write(classify.Result{Name: "cat.jpg", Top: []classify.Prediction{
		{Label: "tabby, tabby cat", Score: 0.5, Index: 281}, {Label: "Egyptian cat", Score: 0.25, Index: 7}, {Label: "x", Score: 0.125, Index: 42}}}))
	require.Equal(t, "cat.jpg\n"+
		"  1   50.000%  281  tabby, tabby cat\n"+
		"  2   25.000%    7  Egyptian cat\n"+
		"  3   12.500%   42  x\n", b.String())
}

// TestJSONForwardTiming: timing_ms names the batch's forward time as such
// and gives each image's share, which add up to it.
func TestJSONForwardTiming(t *testing.T) {
	_, good := mixedDir(t)
	code, out, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "ref", "--json", "--batch", "2", good[0], good[1])
	require.Equal(t, 0, code, errs)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			BatchSize int                `json:"batch_size"`
			Timing    map[string]float64 `json:"timing_ms"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		require.Equal(t, 2, rec.BatchSize)
		require.NotContains(t, rec.Timing, "forward", "renamed: it is the batch's, not the image's")
		require.Greater(t, rec.Timing["forward_batch"], 0.0)
		require.InDelta(t, rec.Timing["forward_batch"]/2, rec.Timing["forward_per_image"], 0.0011)
	}
}
