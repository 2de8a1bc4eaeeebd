package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/bench"
	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/cpu"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// tinyDir is the committed 2-layer deit fixture (10 CIFAR-like labels, 32 px).
const tinyDir = "../../testdata/tiny-distilled"

// runCLI runs the command in-process and returns its exit status and output.
// The Go memory limit that commands decoding images set is restored after.
func runCLI(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	var out, errb bytes.Buffer
	code := newEnv(bytes.NewReader(stdin), &out, &errb).run(context.Background(), args)
	// With VKDEIT_VALIDATION=1 (make test) the command prints what the
	// validation layer reported when it closes the device: none is allowed.
	require.NotContains(t, errb.String(), "gpu: validation:", "vkdeit %v", args)
	return code, out.String(), errb.String()
}

// needGPU skips the test per the shared rule (no device and CI unset) and
// otherwise leaves the device to the command under test.
func needGPU(t *testing.T) {
	t.Helper()
	gputest.Open(t)
}

// testImage draws a deterministic gradient with some structure.
func testImage(w, h int, seed uint8) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{R: uint8(x*7) + seed, G: uint8(y * 5), B: uint8((x ^ y) * 3), A: 255})
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

func encodeJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}))
	return b.Bytes()
}

// mixedDir writes good and bad images; it returns the directory and the good
// files in the order the command must print them.
func mixedDir(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
		return p
	}
	jpg := encodeJPEG(t, testImage(48, 40, 9))
	good := []string{
		write("a_good.png", encodePNG(t, testImage(50, 37, 0))),
		write("sub/c_good.JPG", jpg),
	}
	write("b_truncated.jpg", jpg[:len(jpg)/2])
	write("d_empty.png", nil)
	write("e_text.jpg", []byte("this is not an image at all\n"))
	write("notes.txt", []byte("ignored: not an image extension"))
	return dir, good
}

// expectedLogits runs the CPU reference directly on one file.
func expectedLogits(t *testing.T, m *deit.Model, path string) []float32 {
	t.Helper()
	img, err := imageio.Load(path, imageio.DecodeOptions{})
	require.NoError(t, err)
	px, err := m.Preprocessor.Apply(img)
	require.NoError(t, err)
	res, err := engine.RunReference(context.Background(), m, px, 1, 0)
	require.NoError(t, err)
	return res.Logits
}

func loadTiny(t *testing.T) *deit.Model {
	t.Helper()
	files, err := hub.ResolveModel(context.Background(), tinyDir, hub.FromEnv())
	require.NoError(t, err)
	m, err := deit.Load(files)
	require.NoError(t, err)
	if m.Preprocessor == nil {
		m.Preprocessor = imageio.DefaultPreprocessor()
	}
	return m
}

func TestClassifyMixedDirectory(t *testing.T) {
	for _, device := range []string{"cpu", "ref", "gpu"} {
		t.Run(device, func(t *testing.T) {
			if device == "gpu" {
				needGPU(t)
			}
			dir, good := mixedDir(t)
			code, out, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", device, "--batch", "4", "--top", "3", dir)
			require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errs)
			for _, bad := range []string{"b_truncated.jpg", "d_empty.png", "e_text.jpg"} {
				require.Contains(t, errs, bad)
			}
			require.NotContains(t, errs, "notes.txt")
			require.Contains(t, errs, "3 of 5 inputs could not be classified")

			// The good images, in input order, each with the right top class.
			m := loadTiny(t)
			pos := -1
			for _, p := range good {
				i := strings.Index(out, p+"\n")
				require.Greater(t, i, pos, "%s missing or out of order in\n%s", p, out)
				pos = i
				want, err := classify.TopK(expectedLogits(t, m, p), 3, m.Config.Labels)
				require.NoError(t, err)
				block := out[i:]
				lines := strings.Split(block, "\n")
				require.GreaterOrEqual(t, len(lines), 4)
				f := strings.Fields(lines[1])
				require.Equal(t, "1", f[0])
				require.Equal(t, want[0].Label, strings.Join(f[3:], " "), "top-1 of %s", p)
				pct, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
				require.NoError(t, err)
				require.InDelta(t, 100*want[0].Score, pct, 0.01, "top-1 score of %s", p)
			}
			require.NotContains(t, out, "b_truncated")
		})
	}
}

func TestClassifyJSONAndStdin(t *testing.T) {
	_, good := mixedDir(t)
	pngData, err := os.ReadFile(good[0])
	require.NoError(t, err)
	args := []string{"classify", "--model", tinyDir, "--device", "ref", "--json", "--top", "100", good[1], "-", good[0]}
	code, out, errs := runCLI(t, pngData, args...)
	require.Equal(t, 0, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	m := loadTiny(t)
	wantPaths := []string{good[1], "-", good[0]}
	var stdinRes, fileRes classifyJSON
	for i, line := range lines {
		var r classifyJSON
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		require.Equal(t, wantPaths[i], r.Path)
		require.Contains(t, r.Device, "reference")
		require.Equal(t, tinyDir, r.Model)
		require.Len(t, r.Predictions, 10, "--top larger than the label count prints all labels")
		var sum float64
		for j, p := range r.Predictions {
			require.Equal(t, m.Config.Labels[p.Index], p.Label)
			if j > 0 {
				require.LessOrEqual(t, p.Logit, r.Predictions[j-1].Logit)
			}
			sum += p.Score
		}
		require.InDelta(t, 1, sum, 1e-9)
		require.GreaterOrEqual(t, r.Timing.Preprocess, 0.0)
		if r.Path == "-" {
			stdinRes = r
		}
		if r.Path == good[0] {
			fileRes = r
		}
	}
	// Standard input gives exactly what the file gives, and both match a
	// direct engine.RunReference call.
	require.Equal(t, fileRes.Predictions, stdinRes.Predictions)
	want := expectedLogits(t, m, good[0])
	for _, p := range fileRes.Predictions {
		require.Equal(t, want[p.Index], p.Logit, "logit %d", p.Index)
	}
}

func TestClassifyGPUMatchesCPU(t *testing.T) {
	needGPU(t)
	_, good := mixedDir(t)
	var res [2]map[string]classifyJSON
	for i, dev := range []string{"ref", "gpu"} {
		code, out, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", dev, "--json", "--top", "10", good[0], good[1])
		require.Equal(t, 0, code, errs)
		res[i] = map[string]classifyJSON{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r classifyJSON
			require.NoError(t, json.Unmarshal([]byte(line), &r))
			res[i][r.Path] = r
		}
	}
	for _, p := range good {
		c, g := res[0][p], res[1][p]
		require.Contains(t, g.Device, "vulkan")
		a, b := make([]float32, 10), make([]float32, 10)
		for k := range c.Predictions {
			a[c.Predictions[k].Index] = c.Predictions[k].Logit
			b[g.Predictions[k].Index] = g.Predictions[k].Logit
		}
		d := bench.Compare(b, a)
		require.Less(t, d.RelL2, 1e-4, "%s: gpu vs cpu logits, worst class %d (abs %g)", p, d.Worst, d.MaxAbs)
	}
}

func TestClassifyErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.jpg")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no paths", []string{"classify", "--model", tinyDir}, 2, "no images given"},
		{"bad top", []string{"classify", "--top", "0", "x.jpg"}, 2, "--top must be ≥ 1"},
		{"bad batch", []string{"classify", "--batch", "0", "x.jpg"}, 2, "--batch must be ≥ 1, got 0"},
		{"bad format", []string{"classify", "--format", "xml", "x.jpg"}, 2, `--format must be table, json or csv, not "xml"`},
		{"flag as value", []string{"classify", "--top", "--json", "x.jpg"}, 2, "flag --top needs a value, got the flag --json"},
		{"bad value", []string{"classify", "--top", "three", "x.jpg"}, 2, `invalid argument "three" for "-k, --top" flag`},
		{"unknown flag", []string{"classify", "--frobnicate", "x.jpg"}, 2, "unknown flag: --frobnicate"},
		{"no such device", []string{"classify", "--model", tinyDir, "--device", "tpu-xyzzy", "../../samples/grace_hopper.jpg"}, 1, "tpu-xyzzy"},
		{"verify bad tol", []string{"verify", "--model", tinyDir, "--tol", "-1"}, 2, "--tol must be a positive number"},
		{"npy without output", []string{"embed", "--format", "npy", "x.jpg"}, 2, "--format npy needs --output"},
		{"missing file", []string{"classify", "--model", tinyDir, "--device", "ref", missing}, 1, "nope.jpg: no such file or directory"},
		{"bad model", []string{"classify", "--model", t.TempDir(), "--device", "ref", "../../samples/grace_hopper.jpg"}, 1, "model "},
		{"verify missing image", []string{"verify", "--model", tinyDir, missing}, 1, "nope.jpg: no such file or directory"},
		{"verify without images", []string{"verify", "--model", tinyDir, t.TempDir()}, 1, "verify: no images to compare in "},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"no command", nil, 2, "Usage: vkdeit COMMAND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, nil, tc.args...)
			require.Equal(t, tc.code, code, errs)
			require.Contains(t, errs, tc.msg)
			if tc.code == 1 {
				// Errors are single "vkdeit: ..." lines.
				for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
					require.True(t, strings.HasPrefix(l, "vkdeit: "), "stderr line %q", l)
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "--help")
	require.Equal(t, 0, code)
	for _, c := range commands() {
		require.Contains(t, out, c.name)
		code, out, errs := runCLI(t, nil, c.name, "--help")
		require.Equal(t, 0, code, errs)
		require.Contains(t, out, "Usage: vkdeit "+c.name)
		if c.name != "version" {
			require.Contains(t, out, "Examples:")
		}
		code, out2, _ := runCLI(t, nil, "help", c.name)
		require.Equal(t, 0, code)
		require.Equal(t, out, out2)
	}
}

// TestHelpAndMistypedCommands: "help --help" is the top usage, not an
// unknown command; a mistyped command gets a "did you mean"; serve's help
// shows each duration's real default once, not "(default 0s)" after it.
func TestHelpAndMistypedCommands(t *testing.T) {
	top, _ := runTop(t)
	for _, args := range [][]string{{"help", "--help"}, {"help", "-h"}, {"help", "help"}} {
		code, out, errs := runCLI(t, nil, args...)
		require.Equal(t, 0, code, "%v: %s", args, errs)
		require.Equal(t, top, out, "%v", args)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"clasify", "x.jpg"}, `vkdeit: unknown command "clasify"; did you mean "classify"? (run "vkdeit help")`},
		{[]string{"embd"}, `did you mean "embed"?`},
		{[]string{"devics"}, `did you mean "devices"?`},
		{[]string{"Bench"}, `did you mean "bench"?`},
		{[]string{"down"}, `did you mean "download"?`},
		{[]string{"help", "verfy"}, `vkdeit: unknown command "verfy"; did you mean "verify"?`},
	} {
		code, _, errs := runCLI(t, nil, tc.args...)
		require.Equal(t, 2, code, errs)
		require.Contains(t, errs, tc.want)
	}
	code, _, errs := runCLI(t, nil, "xyzzy")
	require.Equal(t, 2, code)
	require.Equal(t, "vkdeit: unknown command \"xyzzy\" (run \"vkdeit help\")\n", errs, "no far-fetched suggestion")

	code, out, errs := runCLI(t, nil, "serve", "--help")
	require.Equal(t, 0, code, errs)
	require.NotContains(t, out, "(default 0s)")
	require.Contains(t, out, "bound on graceful shutdown (0: 25s)\n")
}

// runTop is "vkdeit --help".
func runTop(t *testing.T) (string, string) {
	t.Helper()
	code, out, errs := runCLI(t, nil, "--help")
	require.Equal(t, 0, code, errs)
	return out, errs
}

func TestFlagsAfterArguments(t *testing.T) {
	e := newEnv(nil, &bytes.Buffer{}, &bytes.Buffer{})
	fs := newFlagSet(e, "x", "", "")
	top := fs.IntP("top", "k", 5, "")
	js := fs.Bool("json", false, "")
	require.NoError(t, parse(e, fs, []string{"a.jpg", "--top", "3", "-", "--json", "b.jpg", "--", "--top", "-k"}))
	require.Equal(t, 3, *top)
	require.True(t, *js)
	require.Equal(t, []string{"a.jpg", "-", "b.jpg", "--top", "-k"}, fs.Args())
	// Negative numbers are values, not flags.
	fs = newFlagSet(e, "x", "", "")
	f := fs.Float64("tol", 0, "")
	require.NoError(t, parse(e, fs, []string{"--tol", "-1e-3"}))
	require.Equal(t, -1e-3, *f)
}

func TestVerify(t *testing.T) {
	needGPU(t)
	code, out, errs := runCLI(t, nil, "verify", "--model", tinyDir, "--device", "gpu", "--batch", "3")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, out, "random[2]")
	require.Contains(t, out, "ok: worst relative L2 difference")

	_, good := mixedDir(t)
	code, out, errs = runCLI(t, nil, "verify", "--model", tinyDir, "--device", "gpu", good[0], good[1])
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, out, good[1])

	// An impossible tolerance fails, with the numbers still printed.
	code, out, errs = runCLI(t, nil, "verify", "--model", tinyDir, "--device", "gpu", "--tol", "1e-30", "--batch", "1")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, out, "random[0]")
	require.Contains(t, errs, "verify failed")
}

func TestBenchCommand(t *testing.T) {
	dir := t.TempDir()
	jsonPath, plotPath := filepath.Join(dir, "b.json"), filepath.Join(dir, "b.png")
	code, out, errs := runCLI(t, nil, "bench", "--model", tinyDir, "--device", "ref", "--batch", "1,2",
		"--warmup", "1", "--iters", "3", "--json", jsonPath, "--plot", plotPath)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, out, "batch-1 latency, ref:")
	data, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var r bench.Report
	require.NoError(t, json.Unmarshal(data, &r))
	require.Len(t, r.Paths, 1)
	require.Len(t, r.Paths[0].Batches, 2)
	require.Equal(t, 3, r.Paths[0].Batches[1].Latency.N)
	f, err := os.Open(plotPath)
	require.NoError(t, err)
	defer f.Close()
	_, err = png.Decode(f)
	require.NoError(t, err)

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--batch", "1,x"}, `"x" is not a batch size`},
		{[]string{"--iters", "0"}, "--iters must be ≥ 1, got 0"},
		{[]string{"--warmup", "-1"}, "--warmup must be ≥ 0, got -1"},
		{[]string{"--max-time", "-1s"}, "--max-time must be ≥ 0"},
		{[]string{"--profile-runs", "0"}, "--profile-runs must be ≥ 1, got 0"},
	} {
		code, _, errs = runCLI(t, nil, append([]string{"bench"}, tc.args...)...)
		require.Equal(t, 2, code, "bench %v: %s", tc.args, errs)
		require.Contains(t, errs, tc.msg)
	}
}

func TestBenchGPU(t *testing.T) {
	needGPU(t)
	code, out, errs := runCLI(t, nil, "bench", "--model", tinyDir, "--device", "gpu", "--ref", "--batch", "1,4",
		"--warmup", "1", "--iters", "3", "--profile-runs", "1")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, out, "GPU/REF throughput at batch 1")
	require.Contains(t, out, "GPU vs REF logits at batch 1")
}

func TestDevices(t *testing.T) {
	needGPU(t)
	code, out, errs := runCLI(t, nil, "devices")
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "timestamps")
	require.Equal(t, 1, strings.Count(out, "*"), out)

	code, out, errs = runCLI(t, nil, "devices", "--json")
	require.Equal(t, 0, code, errs)
	var ds []deviceJSON
	require.NoError(t, json.Unmarshal([]byte(out), &ds))
	picked := 0
	for _, d := range ds {
		if d.Picked {
			picked++
		}
	}
	require.Equal(t, 1, picked)
}

func TestDownloadErrors(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	code, _, errs := runCLI(t, nil, "download", "not a repo")
	require.Equal(t, 2, code)
	require.Contains(t, errs, "not a hub repo id")
	code, _, errs = runCLI(t, nil, "download", "facebook/deit-tiny-patch16-224")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "deit-tiny-patch16-224")
}

// TestClassifyPreprocessorMismatch gives the model a preprocessor whose crop
// does not match its input size: every image fails with a message naming the
// file and both sizes, and the exit status is 1.
func TestClassifyPreprocessorMismatch(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(tinyDir, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
	pre, err := os.ReadFile(filepath.Join(tinyDir, "preprocessor_config.json"))
	require.NoError(t, err)
	pre = bytes.Replace(pre, []byte(`"crop_size": {"height":32,"width":32}`), []byte(`"crop_size": {"height":16,"width":16}`), 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), pre, 0o644))
	_, good := mixedDir(t)
	code, out, errs := runCLI(t, nil, "classify", "--model", dir, "--device", "ref", good[0])
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Empty(t, out)
	require.Contains(t, errs, good[0]+": preprocessing gave 768 values, the model takes 3072 (3×32×32)")
	require.Contains(t, errs, "1 of 1 inputs could not be classified")
}

// TestVerifyFP16 is the fp16 engine against the reference with fp16's
// default tolerance (the fp32 one, 1e-4, would fail).
func TestVerifyFP16(t *testing.T) {
	needGPU(t)
	code, out, errs := runCLI(t, nil, "verify", "--random", "tiny-distilled", "--device", "gpu", "--precision", "fp16", "--batch", "2", "-q")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, out, "fp16 against reference")
	require.Contains(t, out, "≤ 0.003")
}

// TestDevicesMarksWhatAutoRuns: devices lists the CPU engine (its ISA and
// threads) beside the Vulkan devices and marks what --device auto really
// runs — the CPU engine on a machine whose only Vulkan device is a CPU
// driver such as lavapipe, which it must then not mark. Needs no GPU.
func TestDevicesMarksWhatAutoRuns(t *testing.T) {
	kind, _ := engine.ResolveDevice("auto", gpu.OptionsFromEnv().Select)
	code, out, errs := runCLI(t, nil, "devices")
	require.Equal(t, 0, code, errs)
	engineName := fmt.Sprintf("CPU engine (%s kernels, %d threads)", cpu.Best(), runtime.GOMAXPROCS(0))
	require.Contains(t, out, engineName)
	var marked []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "*") {
			marked = append(marked, l)
		}
	}
	require.Len(t, marked, 1, out)
	require.Equal(t, kind == engine.KindCPU, strings.Contains(marked[0], engineName), "auto runs %s: %s", kind, out)

	code, out, errs = runCLI(t, nil, "devices", "--json")
	require.Equal(t, 0, code, errs)
	var ds []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &ds))
	picked, gpuMarked, vulkan := 0, 0, 0
	var cpuEntry map[string]any
	for _, d := range ds {
		if d["picked"] == true {
			picked++
			require.Equal(t, kind == engine.KindCPU, d["engine"] == "cpu", "%v", d)
		}
		if d["engine"] == "vulkan" {
			vulkan++
		}
		if d["gpu"] == true { // what --device gpu opens: a Vulkan device
			gpuMarked++
			require.Equal(t, "vulkan", d["engine"], "%v", d)
		}
		if d["engine"] == "cpu" {
			cpuEntry = d
		}
	}
	require.Equal(t, 1, picked, out)
	require.Equal(t, min(vulkan, 1), gpuMarked, "one Vulkan device is --device gpu's: %s", out)
	require.NotNil(t, cpuEntry, out)
	require.Equal(t, cpu.Best().String(), cpuEntry["isa"])
	require.EqualValues(t, runtime.GOMAXPROCS(0), cpuEntry["threads"])
	require.Equal(t, []any{"fp32", "bf16"}, cpuEntry["precisions"])
}

// TestPrecisionFallbackAndThreads: --precision fp16 with --device auto on a
// host where auto is the CPU engine falls back to fp32 with a note (as auto
// falls back to the CPU engine), while --device cpu keeps the engine's
// error; --threads reaches the CPU engine and the reference.
func TestPrecisionFallbackAndThreads(t *testing.T) {
	_, good := mixedDir(t)
	if kind, _ := engine.ResolveDevice("auto", gpu.OptionsFromEnv().Select); kind == engine.KindCPU {
		code, out, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--precision", "fp16", "--top", "1", good[0])
		require.Equal(t, 0, code, errs)
		require.Contains(t, errs, "vkdeit: --precision fp16 needs a Vulkan device; --device auto runs the CPU engine here (no GPU), which does not run it: running fp32")
		require.Contains(t, out, "  1  ")
	}
	code, _, errs := runCLI(t, nil, "classify", "--model", tinyDir, "--device", "cpu", "--precision", "fp16", good[0])
	require.Equal(t, 1, code, errs)
	require.Contains(t, errs, "supports fp32")

	for _, dev := range []string{"cpu", "ref"} {
		code, _, errs = runCLI(t, nil, "classify", "--model", tinyDir, "--device", dev, "--threads", "1", good[0])
		require.Equal(t, 0, code, errs)
		require.Regexp(t, `[ (]1 threads\)`, errs)
		code, _, errs = runCLI(t, nil, "embed", "--model", tinyDir, "--device", dev, "--threads", "1", good[0])
		require.Equal(t, 0, code, errs)
		require.Regexp(t, `[ (]1 threads\)`, errs)
	}
	code, _, errs = runCLI(t, nil, "verify", "--model", tinyDir, "--device", "cpu", "--threads", "1", good[0])
	require.Equal(t, 0, code, errs)
	code, _, errs = runCLI(t, nil, "classify", "--threads", "-1", good[0])
	require.Equal(t, 2, code, errs)
	require.Contains(t, errs, "--threads must be ≥ 0")
}
