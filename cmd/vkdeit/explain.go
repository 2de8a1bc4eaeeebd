package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/explain"
	"github.com/vkdeit/vkdeit/internal/npy"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

const explainSynopsis = `explain [flags] PATH...

Shows where the model looks: for every image, attention maps of the
special tokens ([CLS], and [DIST] for distilled models) over the patch grid
(ImageSize/PatchSize cells a side, normalized to sum 1), written to the
--output directory as one file per image and map, named
IMAGE.METHOD-TOKEN[-HEAD].EXT (e.g. cat.rollout-cls.png). PATH is as for
classify.

--method rollout (default) is attention rollout (Abnar & Zuidema 2020): per
layer the head-averaged attention plus the identity, rows renormalized,
multiplied through the layers. --method last is the last layer's attention,
the head mean (…-mean) and each head (…-headN).

--format png (default) draws the map as a colour overlay (blue: least, red:
most attention) on the image as the model sees it (its input crop, scaled up
to at least 224 pixels), with the top-3 labels below; npy writes the
[rows, cols] float32 grid, json {path, method, token, head, rows, cols, map}.
The files written are listed on stdout.`

const explainExamples = `  vkdeit explain --output maps/ samples/grace_hopper.jpg
  vkdeit explain --method last --output maps/ photos/
  vkdeit explain --format npy --output maps/ photo.jpg
  python3 -c 'import numpy; print(numpy.load("maps/photo.rollout-cls.npy"))'
`

// explainJSON is one map in --format json.
type explainJSON struct {
	Path   string         `json:"path"`
	Method explain.Method `json:"method"`
	Token  string         `json:"token"`
	Head   int            `json:"head"` // -1: all heads
	Rows   int            `json:"rows"`
	Cols   int            `json:"cols"`
	Map    [][]float64    `json:"map"` // [rows][cols], summing to 1
}

func runExplain(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "explain", explainSynopsis, explainExamples)
	model := modelFlag(fs)
	ef := addEngineFlags(fs, 8)
	output := fs.StringP("output", "o", "", "write the maps into `DIR` (created if missing; required)")
	format := fs.StringP("format", "f", "png", "file format: png (overlay on the image), npy or json (the raw grid)")
	methodName := fs.String("method", string(explain.Rollout), "map: rollout (attention rollout) or last (the last layer's attention, per head and averaged)")
	df := addDecodeFlags(fs)
	quiet := fs.BoolP("quiet", "q", false, "no notes or progress bar on stderr (errors are still printed)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	method, err := explain.ParseMethod(*methodName)
	switch {
	case fs.NArg() == 0:
		return usagef("explain: no images given (run \"vkdeit explain --help\")")
	case *output == "" || *output == "-":
		return usagef("explain: --output DIR is required (one file per image and map)")
	case *format != "png" && *format != "npy" && *format != "json":
		return usagef("explain: --format must be png, npy or json, not %q", *format)
	case err != nil:
		return usagef("explain: --method: %v", err)
	}
	if err := ef.check("explain"); err != nil {
		return err
	}
	decode, err := df.options("explain")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*output, 0o755); err != nil {
		return fmt.Errorf("--output: %w", err)
	}

	// The maps need the engine's attention tap: explain always runs locally
	// (startBatch without --server).
	job, err := (&remoteFlags{fs: fs}).startBatch(ctx, e, model, ef, *quiet, "explain", nil)
	if err != nil {
		return err
	}
	defer job.Close()
	c, ins := job.local, slices.Collect(job.inputs)
	m := c.Model()
	names := map[string]int{} // file name stems used so far
	bar := newProgress(e, *quiet, int64(len(ins)), "images")
	failed := job.argErrs
	err = c.Stream(ctx, ins, classify.Options{TopK: 3, Attention: method, Workers: df.workers, Decode: decode},
		func(r classify.Result) error {
			defer bar.Add(1)
			in := ins[r.Index]
			name := displayName(inputName(in))
			if r.Err == nil {
				var files []string
				files, r.Err = writeMaps(ctx, e, *output, *format, stem(names, in), name, in, m.Preprocessor, decode, r)
				if r.Err == nil {
					return bar.Around(func() error {
						_, err := fmt.Fprintln(e.stdout, strings.Join(files, "\n"))
						return err
					})
				}
			}
			failed++
			bar.Printf(e.stderr, "vkdeit: %v\n", r.Err)
			return nil
		})
	bar.Finish()
	if err != nil {
		return err
	}
	if failed > 0 {
		fmt.Fprintf(e.stderr, "vkdeit: %d of %d inputs could not be explained\n", failed, len(ins)+job.argErrs)
		return errFailed
	}
	return nil
}

// stem is the file-name stem of an input's maps: its base name without
// extension ("stdin" for standard input), with "-2", "-3"... added when an
// earlier input had the same one.
func stem(used map[string]int, in classify.Input) string {
	s := "stdin"
	if in.Path != "" {
		s = strings.TrimSuffix(filepath.Base(in.Path), filepath.Ext(in.Path))
	}
	used[s]++
	if n := used[s]; n > 1 {
		return fmt.Sprintf("%s-%d", s, n)
	}
	return s
}

// writeMaps writes r's maps as files dir/stem.MAP.format, each atomically,
// and returns their paths. Errors name the input or the file.
func writeMaps(ctx context.Context, e *env, dir, format, stem, name string, in classify.Input, pre *imageio.Preprocessor,
	decode imageio.DecodeOptions, r classify.Result) ([]string, error) {
	var caption []string
	for i, p := range r.Top {
		caption = append(caption, fmt.Sprintf("%d. %5.1f%% %s", i+1, 100*p.Score, p.Label))
	}
	var crop image.Image // the picture png overlays are drawn on
	if format == "png" {
		img, err := decodeInput(ctx, in, decode)
		if err != nil {
			return nil, err
		}
		if crop, err = explain.InputCrop(img, pre); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	var files []string
	for _, mp := range r.Attention {
		path := filepath.Join(dir, stem+"."+mp.Name()+"."+format)
		out, err := openOutput(e, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		err = writeMap(out, format, name, mp, crop, caption)
		if err == nil {
			err = out.Commit()
		}
		out.Discard()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		files = append(files, path)
	}
	return files, nil
}

// writeMap writes one map in format to out.
func writeMap(out *outputFile, format, name string, mp explain.Map, crop image.Image, caption []string) error {
	switch format {
	case "npy":
		w, err := npy.NewWriter(out.Seeker(), mp.Cols)
		if err != nil {
			return err
		}
		row := make([]float32, mp.Cols)
		for y := range mp.Rows {
			for x := range row {
				row[x] = float32(mp.Values[y*mp.Cols+x])
			}
			if err := w.Write(row); err != nil {
				return err
			}
		}
		return w.Close()
	case "json":
		rec := explainJSON{Path: name, Method: mp.Method, Token: mp.Token, Head: mp.Head, Rows: mp.Rows, Cols: mp.Cols}
		for y := range mp.Rows {
			rec.Map = append(rec.Map, mp.Values[y*mp.Cols:(y+1)*mp.Cols])
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	pic, err := explain.Overlay(crop, mp, append([]string{mp.Name()}, caption...))
	if err != nil {
		return err
	}
	return png.Encode(out, pic)
}

// decodeInput decodes an input's image again (the classifier keeps only
// its pixels): a file or the bytes read from standard input.
func decodeInput(ctx context.Context, in classify.Input, opts imageio.DecodeOptions) (*imageio.Image, error) {
	if in.Path != "" {
		return imageio.LoadContext(ctx, in.Path, opts)
	}
	img, err := imageio.DecodeContext(ctx, bytes.NewReader(in.Data), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", displayName(inputName(in)), err)
	}
	return img, nil
}
