package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vkdeit/vkdeit/classify"
)

const classifySynopsis = `classify [flags] PATH...

Classifies images and prints the top-k labels of each with its score (the
softmax probability). PATH is an image file, a directory (searched
recursively for image files) or "-" for standard input. Results come in input
order, as a table, JSON lines (Hugging Face pipeline names: label, score) or
CSV (one row per image, timm's inference layout). An image that cannot be
read is reported on stderr with its name and the problem (and as a row with
an error in JSON and CSV); the others are still classified and the exit
status is 1 at the end.`

const classifyExamples = `  vkdeit classify samples/grace_hopper.jpg
  vkdeit classify --top 3 photos/ more.png
  curl -s https://example.org/cat.jpg | vkdeit classify -
  vkdeit classify --format json --device cpu samples/ | jq '.predictions[0].label'
  vkdeit classify --format csv --output results.csv photos/
  vkdeit classify --model ~/models/deit-tiny photo.jpg      (a directory)
  vkdeit classify --model facebook/deit-base-distilled-patch16-224@main photo.jpg
  vkdeit classify --device 1 photo.jpg                      (Vulkan device 1)
  vkdeit classify --server http://a:8080,http://b:8080 --json -o r.jsonl --resume photos/
`

// classifyJSON is one image's JSON line.
type classifyJSON struct {
	Path        string                `json:"path"`
	Error       string                `json:"error,omitempty"`
	Predictions []classify.Prediction `json:"predictions,omitempty"`
	Device      string                `json:"device,omitempty"`
	Precision   string                `json:"precision,omitempty"`
	Model       string                `json:"model,omitempty"`
	BatchSize   int                   `json:"batch_size,omitempty"`
	Timing      *timingJSON           `json:"timing_ms,omitempty"`
}

type timingJSON struct {
	// Preprocess is this image's decode + resize + normalize time.
	Preprocess float64 `json:"preprocess"`
	// ForwardBatch is the wall time of the forward pass of the batch
	// holding it: the same for each of the batch's batch_size images.
	ForwardBatch float64 `json:"forward_batch"`
	// ForwardPerImage is ForwardBatch / batch_size, the image's share:
	// these add up to the forward passes' time.
	ForwardPerImage float64 `json:"forward_per_image"`
}

func runClassify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "classify", classifySynopsis, classifyExamples)
	model := modelFlag(fs)
	top := fs.IntP("top", "k", 5, "labels per image (more than the model has prints all)")
	ef := addEngineFlags(fs, 8)
	format := fs.StringP("format", "f", "table", "output format: table, json (one object per line) or csv; without it, what --output's extension names (.csv, .json, .jsonl), else table")
	jsonOut := fs.Bool("json", false, "short for --format json")
	output := fs.StringP("output", "o", "", "write the results to `FILE` (atomically: complete or not at all) instead of stdout")
	df := addDecodeFlags(fs)
	quiet := fs.BoolP("quiet", "q", false, "no notes or progress bar on stderr (errors are still printed)")
	rf := addRemoteFlags(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if *jsonOut {
		if fs.Changed("format") && *format != "json" {
			return usagef("classify: --json and --format %s disagree", *format)
		}
		*format = "json"
	}
	switch {
	case fs.NArg() == 0 && rf.filesFrom == "":
		return usagef("classify: no images given (run \"vkdeit classify --help\")")
	case *top < 1:
		return usagef("classify: --top must be ≥ 1, got %d", *top)
	}
	var err error
	if *format, err = outputFormat("classify", *output, *format, fs.Changed("format") || *jsonOut, "table", "json", "csv"); err != nil {
		return err
	}
	if err := ef.check("classify"); err != nil {
		return err
	}
	decode, err := df.options("classify")
	if err != nil {
		return err
	}
	if err := rf.check("classify", *output, *format); err != nil {
		return err
	}
	out, resumed, err := rf.openOutput(e, openOutput, *output, *format)
	if err != nil {
		return err
	}
	defer out.Discard()

	job, err := rf.startBatch(ctx, e, model, ef, *quiet, "classify", resumed)
	if err != nil {
		return err
	}
	defer job.Close()
	decode.Budget.LimitProcessMemory()
	k := min(*top, job.numLabels)
	if k == 0 { // a server's logits of open width
		k = *top
	}
	if err := resumed.checkColumns(k); err != nil {
		return err
	}
	w := newResultWriter(out, *format, job.model, job.device, job.arith, k, job.numLabels)
	w.header = resumed != nil && resumed.header != nil
	bar := newProgress(e, *quiet, job.total, "images")
	failed := job.argErrs
	t0 := time.Now()
	err = job.stream(ctx, classify.Options{TopK: *top, Workers: df.workers, Decode: decode},
		func(r classify.Result) error {
			if r.Err != nil {
				failed++
				bar.Printf(e.stderr, "vkdeit: %s\n", errText(r.Err, r.Name))
			}
			err := bar.Around(func() error { return w.write(r) })
			bar.Add(1)
			return err
		})
	bar.Finish()
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	summarize(e, *quiet, "classify", job.count+job.argErrs, failed, time.Since(t0))
	if failed > 0 {
		fmt.Fprintf(e.stderr, "vkdeit: %d of %d inputs could not be classified\n", failed, job.count+job.argErrs)
		return errFailed
	}
	return nil
}

// resultWriter prints classification results in one format.
type resultWriter struct {
	w      io.Writer
	format string
	model  string
	device string
	arith  string
	k      int // predictions per image in table and CSV
	labels int // the model's label count: the width of the table's index column
	csv    *csv.Writer
	header bool // the CSV header is written
}

func newResultWriter(w io.Writer, format, model, device, arith string, k, numLabels int) *resultWriter {
	rw := &resultWriter{w: w, format: format, model: model, device: device, arith: arith, k: k, labels: numLabels}
	if format == "csv" {
		rw.csv = csv.NewWriter(w)
	}
	return rw
}

// write prints one result; failures appear in JSON and CSV (so no input
// disappears from a results file) but not in the table, which is for people
// who read the errors on stderr. JSON and CSV carry r.Name as it is (their
// quoting keeps any byte of a path), the table quotes it.
func (rw *resultWriter) write(r classify.Result) error {
	switch rw.format {
	case "json":
		rec := classifyJSON{Path: r.Name}
		if r.Err != nil {
			rec.Error = oneLine(errText(r.Err, r.Name))
		} else {
			rec.Predictions, rec.Device, rec.Precision, rec.Model, rec.BatchSize = r.Top, rw.device, rw.arith, rw.model, r.BatchSize
			rec.Timing = &timingJSON{Preprocess: ms(r.Preprocess), ForwardBatch: ms(r.Forward),
				ForwardPerImage: ms(r.Forward / time.Duration(max(r.BatchSize, 1)))}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("%s: json: %w", displayName(r.Name), err)
		}
		_, err = fmt.Fprintf(rw.w, "%s\n", b)
		return err
	case "csv":
		if err := rw.csvHeader(); err != nil {
			return err
		}
		row := make([]string, 0, 2+3*rw.k)
		row = append(row, r.Name)
		for i := range rw.k {
			if i < len(r.Top) {
				p := r.Top[i]
				row = append(row, p.Label, strconv.FormatFloat(p.Score, 'g', 6, 64), strconv.Itoa(p.Index))
			} else {
				row = append(row, "", "", "")
			}
		}
		msg := ""
		if r.Err != nil {
			msg = oneLine(errText(r.Err, r.Name))
		}
		if err := rw.csv.Write(append(row, msg)); err != nil {
			return err
		}
		rw.csv.Flush()
		return rw.csv.Error()
	}
	if r.Err != nil {
		return nil
	}
	_, err := io.WriteString(rw.w, formatTable(r.Name, r.Top, rw.labels))
	return err
}

// csvHeader writes the CSV header before the first row.
func (rw *resultWriter) csvHeader() error {
	if rw.csv == nil || rw.header {
		return nil
	}
	rw.header = true
	h := []string{"path"}
	for i := 1; i <= rw.k; i++ {
		h = append(h, fmt.Sprintf("label_%d", i), fmt.Sprintf("score_%d", i), fmt.Sprintf("index_%d", i))
	}
	return rw.csv.Write(append(h, "error"))
}

// flush writes what is buffered (the CSV header when no row came).
func (rw *resultWriter) flush() error {
	if rw.csv == nil {
		return nil
	}
	if err := rw.csvHeader(); err != nil {
		return err
	}
	rw.csv.Flush()
	return rw.csv.Error()
}

// formatTable renders one image's predictions as an aligned table, the
// name quoted if it holds control characters (displayName).
func formatTable(name string, preds []classify.Prediction, numLabels int) string {
	var b strings.Builder
	if name == stdinName {
		name = "(standard input)"
	}
	fmt.Fprintf(&b, "%s\n", displayName(name))
	rw := len(strconv.Itoa(len(preds)))
	iw := len(strconv.Itoa(max(numLabels-1, 0)))
	for i, p := range preds {
		fmt.Fprintf(&b, "  %*d  %7.3f%%  %*d  %s\n", rw, i+1, 100*p.Score, iw, p.Index, p.Label)
	}
	return b.String()
}

// ms is a duration in milliseconds rounded to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
