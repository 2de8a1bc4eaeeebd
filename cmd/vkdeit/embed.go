package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/internal/npy"
)

const embedSynopsis = `embed [flags] PATH...

Prints each image's embedding: the final-LayerNorm hidden state of the [CLS]
token (Hugging Face DeiTModel's last_hidden_state[:, 0]) and, for distilled
models, of the distillation token ([:, 1]). PATH is as for classify. --format
json prints one object per image and line; --format npy writes the [CLS]
embeddings of the images that could be read as an [N, D] float32 array to
--output FILE.npy, and their paths, one per line in the same order, to
FILE.paths.txt (a name holding control characters is written Go-quoted). Images that cannot be read are reported on stderr (and as
{"path", "error"} lines in JSON); the exit status is then 1.`

const embedExamples = `  vkdeit embed photo.jpg
  vkdeit embed --format npy --output emb.npy photos/      (emb.npy + emb.paths.txt)
  python3 -c 'import numpy; print(numpy.load("emb.npy").shape)'
  vkdeit embed --device cpu photos/ | jq -c '.embedding[:4]'
`

// embedJSON is one image's JSON line.
type embedJSON struct {
	Path                  string    `json:"path"`
	Error                 string    `json:"error,omitempty"`
	Embedding             []float32 `json:"embedding,omitempty"`
	DistillationEmbedding []float32 `json:"distillation_embedding,omitempty"`
}

func runEmbed(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "embed", embedSynopsis, embedExamples)
	model := modelFlag(fs)
	ef := addEngineFlags(fs, 8)
	format := fs.StringP("format", "f", "json", "output format: json (one object per line) or npy (needs --output); without it, what --output's extension names (.npy, .json, .jsonl), else json")
	output := fs.StringP("output", "o", "", "write to `FILE` (atomically) instead of stdout")
	df := addDecodeFlags(fs)
	quiet := fs.BoolP("quiet", "q", false, "no notes or progress bar on stderr (errors are still printed)")
	rf := addRemoteFlags(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 0 && rf.filesFrom == "":
		return usagef("embed: no images given (run \"vkdeit embed --help\")")
	}
	var err error
	if *format, err = outputFormat("embed", *output, *format, fs.Changed("format"), "json", "npy"); err != nil {
		return err
	}
	switch {
	case *format == "npy" && (*output == "" || *output == "-"):
		return usagef("embed: --format npy needs --output FILE.npy")
	}
	if err := ef.check("embed"); err != nil {
		return err
	}
	decode, err := df.options("embed")
	if err != nil {
		return err
	}
	if err := rf.check("embed", *output, *format); err != nil {
		return err
	}
	open := openOutput
	if *format == "npy" {
		open = openSeekableOutput
	}
	out, resumed, err := rf.openOutput(e, open, *output, *format)
	if err != nil {
		return err
	}
	defer out.Discard()
	var paths *outputFile
	if *format == "npy" {
		if paths, err = openOutput(e, strings.TrimSuffix(*output, ".npy")+".paths.txt"); err != nil {
			return err
		}
		defer paths.Discard()
	}

	job, err := rf.startBatch(ctx, e, model, ef, *quiet, "embed", resumed)
	if err != nil {
		return err
	}
	defer job.Close()
	decode.Budget.LimitProcessMemory()

	var arr *npy.Writer
	if *format == "npy" {
		if arr, err = npy.NewWriter(out.Seeker(), job.hidden); err != nil {
			return fmt.Errorf("%s: %w", displayName(*output), err)
		}
	}
	bar := newProgress(e, *quiet, job.total, "images")
	failed := job.argErrs
	t0 := time.Now()
	err = job.stream(ctx, classify.Options{TopK: 1, Embeddings: true, Workers: df.workers, Decode: decode},
		func(r classify.Result) error {
			name := r.Name
			if r.Err != nil {
				failed++
				bar.Printf(e.stderr, "vkdeit: %s\n", errText(r.Err, name))
			}
			defer bar.Add(1)
			if arr != nil {
				if r.Err != nil {
					return nil
				}
				if err := arr.Write(r.Embedding); err != nil {
					return fmt.Errorf("%s: %w", displayName(*output), err)
				}
				_, err := fmt.Fprintln(paths, displayName(name)) // one line per path
				return err
			}
			rec := embedJSON{Path: name, Embedding: r.Embedding, DistillationEmbedding: r.DistillationEmbedding}
			if r.Err != nil {
				rec.Error = oneLine(errText(r.Err, name))
			}
			b, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("%s: json: %w", displayName(name), err)
			}
			return bar.Around(func() error { _, err := fmt.Fprintf(out, "%s\n", b); return err })
		})
	bar.Finish()
	if err != nil {
		return err
	}
	if arr != nil {
		if err := arr.Close(); err != nil {
			return fmt.Errorf("%s: %w", displayName(*output), err)
		}
		if err := paths.Commit(); err != nil {
			return err
		}
	}
	if err := out.Commit(); err != nil {
		return err
	}
	summarize(e, *quiet, "embed", job.count+job.argErrs, failed, time.Since(t0))
	if failed > 0 {
		fmt.Fprintf(e.stderr, "vkdeit: %d of %d inputs could not be embedded\n", failed, job.count+job.argErrs)
		return errFailed
	}
	return nil
}
