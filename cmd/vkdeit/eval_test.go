package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/internal/fixture"
)

// The trained fixture: a small DeiT and its labeled test images
// (testdata/trained/README.md).
const (
	trainedModel = "../../testdata/trained/model"
	trainedTest  = "../../testdata/trained/test"
)

func TestEvalTrained(t *testing.T) {
	g := fixture.ReadTrained(t)
	dir := t.TempDir()
	out := func(name string) string { return filepath.Join(dir, name) }
	code, stdout, stderr := runCLI(t, nil, "eval", "--model", trainedModel, "--device", "cpu", "--format", "json",
		"--predictions", out("pred.csv"), "--confusion", out("conf.csv"), "--confusion-png", out("conf.png"),
		"--per-class", out("class.csv"), trainedTest)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "256 images of 8 labels (imagefolder), mapped by label text")
	var rec evalJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rec))
	require.Equal(t, g.Images, rec.Images)
	require.Equal(t, g.Top1Correct, rec.Top1Correct)
	require.Equal(t, g.Top5Correct, rec.Top5Correct)
	require.Equal(t, trainedModel, rec.Model)
	require.InDelta(t, 100*float64(g.Top1Correct)/float64(g.Images), rec.Top1, 1e-4)
	require.InDelta(t, 100-rec.Top1, rec.Top1Err, 1e-9)
	require.Equal(t, 48, rec.ImgSize)
	require.Equal(t, 0.8889, rec.CropPct) // crop 48 of 54
	require.Equal(t, "bicubic", rec.Interpolation)
	require.Equal(t, 0.17, rec.ParamCount) // 166,032 parameters
	require.Len(t, rec.PerClass, 8)

	rows := readCSV(t, out("pred.csv"))
	require.Equal(t, []string{"path", "label", "class", "predicted", "predicted_label", "score", "correct", "top5", "error"}, rows[0])
	require.Len(t, rows, 1+g.Images)
	want := map[string]int{} // golden.json lists images by class index, eval by folder name
	for i, p := range g.Paths {
		want[filepath.Join(trainedTest, filepath.FromSlash(p))] = g.Predictions[i]
	}
	for _, r := range rows[1:] {
		p, ok := want[r[0]]
		require.True(t, ok, r[0])
		require.Equal(t, p, atoi(t, r[3]), r[0])
		require.Equal(t, g.Classes[p], r[4])
		delete(want, r[0])
	}
	conf := readCSV(t, out("conf.csv"))
	require.Len(t, conf, 9)
	require.Equal(t, "0 stripes", conf[1][0])
	diag := 0
	for i := 1; i <= 8; i++ {
		diag += atoi(t, conf[i][i])
	}
	require.Equal(t, g.Top1Correct, diag)
	f, err := os.Open(out("conf.png"))
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, 8*16, img.Bounds().Dx())
	require.Len(t, readCSV(t, out("class.csv")), 9)

	// The text summary, on a spread-out subset of two images per class.
	code, stdout, stderr = runCLI(t, nil, "eval", "-m", trainedModel, "-d", "cpu", "--limit", "16", "-q", trainedTest)
	require.Equal(t, 0, code, stderr)
	require.Empty(t, stderr)
	require.Regexp(t, `(?m)^images +16 +\(8 classes\)$`, stdout)
	require.Regexp(t, `(?m)^top-1 +\d+\.\d{3}% +± \d+\.\d{3} +\(\d+/16; error`, stdout)
	require.Regexp(t, `(?m)^7 gradient +2 +`, stdout)
}

// TestEvalMapping runs the labels-file and class-map paths on the fixture's
// images, and checks that a label mapping to no class stops the command
// before anything is scored, naming every such label.
func TestEvalMapping(t *testing.T) {
	g := fixture.ReadTrained(t)
	dir := t.TempDir()
	// A labels file with class indices, a class map with WordNet-like names.
	var labels, cmap strings.Builder
	labels.WriteString("path\tlabel\n")
	for i, p := range g.Paths {
		labels.WriteString(p + "\t" + g.Classes[i*len(g.Classes)/len(g.Paths)] + "\n")
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "labels.tsv"), []byte(labels.String()), 0o644))
	code, stdout, stderr := runCLI(t, nil, "eval", "-m", trainedModel, "-d", "ref", "--labels", filepath.Join(dir, "labels.tsv"), "--format", "csv", trainedTest)
	require.Equal(t, 0, code, stderr)
	rows := readCSVText(t, stdout)
	require.Equal(t, []string{"model", "top1", "top1_err", "top5", "top5_err", "param_count", "img_size", "crop_pct", "interpolation"}, rows[0])
	require.InDelta(t, 100*float64(g.Top1Correct)/float64(g.Images), atof(t, rows[1][1]), 1e-4)

	// ImageFolder with folders named by class index, mapped through a
	// class map from made-up names; one folder the map does not know.
	data := filepath.Join(dir, "data")
	for i, name := range []string{"s", "c", "zz"} {
		require.NoError(t, os.MkdirAll(filepath.Join(data, name), 0o755))
		src := filepath.Join(trainedTest, filepath.FromSlash(g.Paths[i*32]))
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(data, name, filepath.Base(src)), b, 0o644))
	}
	cmap.WriteString("s,stripes\nc,1\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "map.csv"), []byte(cmap.String()), 0o644))
	code, stdout, stderr = runCLI(t, nil, "eval", "-m", trainedModel, "-d", "cpu", "--class-map", filepath.Join(dir, "map.csv"), data)
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "vkdeit: eval: "+data+": 1 of the data's 3 labels map to no model class:\n  \"zz\": not in --class-map "+filepath.Join(dir, "map.csv")+"\n")
	require.NotContains(t, stderr, "running on", "the mapping is checked before the engine opens")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "map.csv"), []byte(cmap.String()+"zz,rings\n"), 0o644))
	code, stdout, stderr = runCLI(t, nil, "eval", "-m", trainedModel, "-d", "cpu", "--class-map", filepath.Join(dir, "map.csv"), "--class-subset", "--format", "json", data)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "mapped by class map: class index and class map: label text")
	var rec evalJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rec))
	require.Equal(t, 3, rec.Images)
	require.True(t, rec.Subset)

	// Without the map the folder names are tried directly.
	code, _, stderr = runCLI(t, nil, "eval", "-m", trainedModel, "-d", "cpu", data)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "3 of the data's 3 labels map to no model class:\n  \"c\": no model label is this text;")
}

func TestEvalUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"eval"}, 2, "eval: want one DATA folder, got 0 arguments"},
		{[]string{"eval", "a", "b"}, 2, "eval: want one DATA folder, got 2 arguments"},
		{[]string{"eval", "--limit", "-1", trainedTest}, 2, "eval: --limit must be ≥ 0, got -1"},
		{[]string{"eval", "--format", "xml", trainedTest}, 2, `eval: --format must be text, json or csv, not "xml"`},
		{[]string{"eval", "--confusion", "x", "--per-class", "x", "-m", trainedModel, trainedTest}, 2, `eval: "x" is given to two output flags`},
		{[]string{"eval", "-m", trainedModel, "no/such/dir"}, 1, "vkdeit: data stat no/such/dir: no such file or directory"},
		{[]string{"eval", "-m", trainedModel, "--class-map", "no/such/map", trainedTest}, 1, "vkdeit: --class-map stat no/such/map: no such file or directory"},
	} {
		code, _, stderr := runCLI(t, nil, tc.args...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.msg, tc.args)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return readCSVText(t, string(b))
}

func readCSVText(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	require.NoError(t, err)
	return rows
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	x, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return x
}

// TestEvalInterrupted: a signal stops eval with the signal's exit status
// and leaves none of its output files, not even partial ones.
func TestEvalInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interrupted{syscall.SIGINT})
	var out, errb bytes.Buffer
	code := newEnv(nil, &out, &errb).run(ctx, []string{"eval", "-m", trainedModel, "-d", "cpu", "-o", filepath.Join(dir, "r.json"),
		"--predictions", filepath.Join(dir, "p.csv"), "--confusion", filepath.Join(dir, "c.csv"), trainedTest})
	require.Equal(t, 130, code, errb.String())
	require.Contains(t, errb.String(), "vkdeit: interrupted (interrupt)\n")
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left)
	require.Empty(t, out.String())
}

// TestEvalServer scores the trained fixture on a `vkdeit serve` of it
// (--server): the same counts as PyTorch, every image through the server.
func TestEvalServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	g := fixture.ReadTrained(t)
	base, _, stop := startServe(t, "--model", trainedModel, "--name", "trained")
	defer stop()
	code, stdout, stderr := runCLI(t, nil, "eval", "--model", trainedModel, "--server", base+"/v2/models/trained",
		"--format", "json", trainedTest)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "running on 1 server(s)")
	var rec evalJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rec))
	require.Equal(t, g.Images, rec.Images)
	require.Equal(t, g.Top1Correct, rec.Top1Correct)
	require.Equal(t, g.Top5Correct, rec.Top5Correct)
	require.Equal(t, "server", rec.Device)

	code, _, stderr = runCLI(t, nil, "eval", "--model", trainedModel, "--server", base, "--device", "cpu", trainedTest)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--device has no effect with --server")
}
