package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/eval"
	"github.com/vkdeit/vkdeit/internal/regfile"
	"github.com/vkdeit/vkdeit/remote"
)

const evalSynopsis = `eval [flags] DATA

Measures the model's accuracy on the labeled images in the folder DATA: top-1
and top-5 with their errors, per-class accuracy, throughput, and on request
the confusion matrix (CSV, PNG), per-image predictions and timm's results
line (--format json or csv). DATA is laid out as

  - an ImageFolder tree: one folder per class, named by the model's label
    text (or one of its comma-separated synonyms, any case, "_" for spaces),
    its class index, or an ImageNet WordNet id such as n01440764;
  - a labels file (--labels FILE): CSV or TSV rows "path,label", paths
    relative to DATA, the label as text, index or WordNet id;
  - ImageNet's validation set: flat ILSVRC2012_val_*.JPEG files, with
    LOC_val_solution.csv or the devkit's ground-truth list in DATA or up to
    four folders above (or named with --labels).

--class-map FILE maps the data's labels to model labels ("folder,model
label" rows, or timm's one name per line whose line number is the class
index). Every label is mapped before the model runs: one that maps to no
model class stops the command with the list of such labels and what was
tried. --class-subset scores a dataset that covers part of the model's
classes (ImageNet-A, -R) among those classes only.`

const evalExamples = `  vkdeit eval --model testdata/trained/model testdata/trained/test
  vkdeit eval --device cpu --format csv ~/data/imagenet/val      (ILSVRC2012_val_*.JPEG)
  vkdeit eval --labels labels.csv --confusion-png confusion.png photos/
  vkdeit eval --class-map imagenet_r_wnids.txt --class-subset imagenet-r/
  vkdeit eval --limit 5000 --predictions wrong.csv imagenet/val
`

// evalJSON is the --format json record: timm's results line and the counts
// behind it.
type evalJSON struct {
	eval.Line
	Images      int                `json:"images"`
	Top1Correct int                `json:"top1_correct"`
	Top5Correct int                `json:"top5_correct"`
	Failed      int                `json:"failed"`
	Classes     int                `json:"classes"`
	Subset      bool               `json:"class_subset"`
	Device      string             `json:"device"`
	Precision   string             `json:"precision"`
	Throughput  float64            `json:"images_per_second"`
	PerClass    []eval.ClassResult `json:"per_class"`
}

// evalFiles are eval's optional output files, written atomically.
type evalFiles struct {
	perClass, confusion, confusionPNG, predictions string
}

func runEval(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "eval", evalSynopsis, evalExamples)
	model := modelFlag(fs)
	ef := addEngineFlags(fs, 32)
	labels := fs.String("labels", "", "labels `FILE`: CSV/TSV rows path,label (paths relative to DATA), LOC_val_solution.csv, or an ImageNet ground-truth list")
	classMap := fs.String("class-map", "", "`FILE` mapping the data's labels to model labels: rows \"data label,model label\" (text, index or WordNet id), or one data label per line in class-index order")
	subset := fs.Bool("class-subset", false, "predict among the classes the data's labels map to only (ImageNet-A/R style subsets)")
	limit := fs.Int("limit", 0, "score at most `N` images, spread evenly over the data (0: all)")
	format := fs.StringP("format", "f", "text", "output format: text, json (timm's results line and the counts) or csv (timm's results line)")
	output := fs.StringP("output", "o", "", "write the results to `FILE` (atomically) instead of stdout")
	var files evalFiles
	fs.StringVar(&files.perClass, "per-class", "", "write per-class accuracy as CSV to `FILE`")
	fs.StringVar(&files.confusion, "confusion", "", "write the confusion matrix as CSV to `FILE`")
	fs.StringVar(&files.confusionPNG, "confusion-png", "", "draw the confusion matrix as a PNG heat map to `FILE`")
	fs.StringVar(&files.predictions, "predictions", "", "write every image's prediction as CSV to `FILE`")
	df := addDecodeFlags(fs)
	rf := addServerFlags(fs)
	quiet := fs.BoolP("quiet", "q", false, "no notes or progress bar on stderr (errors are still printed)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 1:
		return usagef("eval: want one DATA folder, got %d arguments (run \"vkdeit eval --help\")", fs.NArg())
	case *limit < 0:
		return usagef("eval: --limit must be ≥ 0, got %d", *limit)
	case *format != "text" && *format != "json" && *format != "csv":
		return usagef("eval: --format must be text, json or csv, not %q", *format)
	}
	if err := rf.check("eval", "", ""); err != nil {
		return err
	}
	if err := ef.check("eval"); err != nil {
		return err
	}
	decode, err := df.options("eval")
	if err != nil {
		return err
	}
	data := fs.Arg(0)
	ds, err := eval.Open(data, eval.OpenOptions{Labels: *labels})
	if err != nil {
		return err
	}
	var cm map[string]string
	if *classMap != "" {
		b, err := regfile.ReadFile(*classMap, eval.MaxLabelsBytes)
		if err != nil {
			return fmt.Errorf("--class-map %w", err)
		}
		if cm, err = eval.ParseClassMap(b); err != nil {
			return fmt.Errorf("--class-map %s: %w", *classMap, err)
		}
	}
	m, err := loadModel(ctx, e, model, *quiet)
	if err != nil {
		return err
	}
	mapping, err := eval.MapLabels(ds.Labels(), m.Config.Labels, eval.MapOptions{ClassMap: cm, ClassMapName: "--class-map " + *classMap, DevkitIDs: ds.DevkitIDs})
	var me *eval.MappingError
	if errors.As(err, &me) {
		// The list is the message: one line per label, not one long line.
		fmt.Fprintf(e.stderr, "vkdeit: eval: %s: %v\n", data, err)
		return errFailed
	}
	if err != nil {
		return err
	}
	n := len(eval.Pick(ds.Samples, *limit))
	e.notef(*quiet, "%s: %d images of %d labels (%s), mapped %s", data, n, len(mapping.Class), ds.Layout, mappedBy(mapping))

	outs := map[string]*outputFile{}
	for _, path := range []string{*output, files.perClass, files.confusion, files.confusionPNG, files.predictions} {
		if path == "" || path == "-" && path == *output {
			continue
		}
		if outs[path] != nil || path == "-" {
			return usagef("eval: %q is given to two output flags (or \"-\" to one other than --output)", path)
		}
		o, err := openOutput(e, path)
		if err != nil {
			return err
		}
		defer o.Discard()
		outs[path] = o
	}
	out := outs[*output]
	if out == nil {
		out, _ = openOutput(e, "")
	}

	// The images run on the local engine, or with --server on the servers
	// (the model is still loaded: its labels map the data's, and its
	// config fills the report).
	var c eval.Classifier
	var device, arith string
	if len(rf.servers) > 0 {
		client, err := remote.New(ctx, rf.servers, remote.Options{Model: servedName(model.arg), InFlight: rf.inFlight,
			Input: rf.serverInput(), Labels: m.Config.Labels, Preprocessor: m.Preprocessor,
			Logf: func(format string, args ...any) { e.notef(*quiet, format, args...) }})
		if err != nil {
			return err
		}
		defer client.Close()
		sig := client.Signature()
		e.notef(*quiet, "running on %d server(s): %s", len(rf.servers), &sig)
		c, device, arith = remoteClassifier{client}, "server", "server"
	} else {
		eng, err := openEngineFor(e, m, engineRequest{device: ef.device, prec: ef.prec, maxBatch: min(ef.batch, n), threads: ef.threads}, *quiet)
		if err != nil {
			return err
		}
		lc, err := classify.New(m, eng)
		if err != nil {
			eng.Close()
			return err
		}
		defer lc.Close()
		c, device, arith = lc, eng.Name(), eng.Arithmetic()
	}

	var pred *csv.Writer
	if o := outs[files.predictions]; o != nil {
		pred = csv.NewWriter(o)
		pred.Write(eval.PredictionsHeader)
	}
	bar := newProgress(e, *quiet, int64(n), "images")
	rep, err := eval.Evaluate(ctx, c, m.Config.Labels, ds, mapping, eval.Options{
		Classify: classify.Options{Workers: df.workers, Decode: decode},
		Subset:   *subset,
		Limit:    *limit,
		OnImage: func(ir eval.ImageResult) error {
			if ir.Err != nil {
				bar.Printf(e.stderr, "vkdeit: %v\n", ir.Err)
			}
			bar.Add(1)
			if pred == nil {
				return nil
			}
			pred.Write(eval.PredictionRow(ir, m.Config.Labels))
			return pred.Error()
		},
	})
	bar.Finish()
	if err != nil {
		return err
	}
	if pred != nil {
		if pred.Flush(); pred.Error() != nil {
			return fmt.Errorf("--predictions %s: %w", files.predictions, pred.Error())
		}
	}
	if rep.Images == 0 {
		return fmt.Errorf("eval: %s: none of the %d images could be scored", data, n)
	}

	line := eval.NewLine(model.arg, m, rep.Results)
	switch *format {
	case "json":
		rec := evalJSON{Line: line, Images: rep.Images, Top1Correct: rep.Top1Correct, Top5Correct: rep.TopKCorrect,
			Failed: rep.Failed, Classes: len(rep.Classes), Subset: *subset, Device: device, Precision: arith,
			Throughput: rep.Throughput(), PerClass: rep.Classes}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", b)
	case "csv":
		err = line.WriteCSV(out)
	default:
		err = writeEvalText(out, rep, device, arith)
	}
	if err != nil {
		return err
	}
	if err := writeEvalFiles(outs, files, rep, m.Config.Labels); err != nil {
		return err
	}
	for _, o := range outs {
		if err := o.Commit(); err != nil {
			return err
		}
	}
	if rep.Failed > 0 {
		fmt.Fprintf(e.stderr, "vkdeit: %d of %d images could not be scored (not counted in the accuracy)\n", rep.Failed, n)
		return errFailed
	}
	return nil
}

// mappedBy says how the labels were mapped: "by label text", "by class
// index and WordNet id", …
func mappedBy(m *eval.Mapping) string {
	var hows []string
	for _, h := range m.How {
		if !slices.Contains(hows, h) {
			hows = append(hows, h)
		}
	}
	slices.Sort(hows)
	return "by " + strings.Join(hows, " and ")
}

// writeEvalText prints the summary and the per-class table.
func writeEvalText(w io.Writer, rep *eval.Report, device, arith string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	acc := func(name string, correct int, p float64) {
		fmt.Fprintf(tw, "%s\t%.3f%%\t± %.3f\t(%d/%d; error %.3f%%)\n", name, p, rep.StdErr(p), correct, rep.Images, 100-p)
	}
	fmt.Fprintf(tw, "images\t%d\t\t(%d classes%s)\n", rep.Images, len(rep.Classes), subsetNote(rep.Results))
	acc("top-1", rep.Top1Correct, rep.Top1())
	acc(fmt.Sprintf("top-%d", rep.K), rep.TopKCorrect, rep.TopK())
	fmt.Fprintf(tw, "throughput\t%.1f images/s\t\t(%s, %s; forward passes %.0f%% of the time)\n", rep.Throughput(), device, arith,
		100*rep.Forward.Seconds()/max(rep.Elapsed.Seconds(), 1e-9))
	tw.Flush()
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "class\timages\ttop-1\ttop-%d\n", rep.K)
	for _, c := range rep.Classes {
		fmt.Fprintf(tw, "%d %s\t%d\t%.2f%%\t%.2f%%\n", c.Index, c.Label, c.Images, c.Top1(), 100*float64(c.TopKCorrect)/float64(c.Images))
	}
	return tw.Flush()
}

func subsetNote(r *eval.Results) string {
	if r.Subset == nil {
		return ""
	}
	return fmt.Sprintf(", predicted among %d", len(r.Subset))
}

// writeEvalFiles writes the per-class CSV and the confusion matrix files
// asked for.
func writeEvalFiles(outs map[string]*outputFile, f evalFiles, rep *eval.Report, labels []string) error {
	if o := outs[f.perClass]; o != nil {
		cw := csv.NewWriter(o)
		cw.Write([]string{"index", "label", "images", "top1_correct", "top5_correct", "top1"})
		for _, c := range rep.Classes {
			cw.Write([]string{fmt.Sprint(c.Index), c.Label, fmt.Sprint(c.Images), fmt.Sprint(c.Top1Correct), fmt.Sprint(c.TopKCorrect), fmt.Sprintf("%.4f", c.Top1())})
		}
		if cw.Flush(); cw.Error() != nil {
			return fmt.Errorf("--per-class %s: %w", f.perClass, cw.Error())
		}
	}
	if o := outs[f.confusion]; o != nil {
		if err := rep.WriteConfusionCSV(o, labels); err != nil {
			return fmt.Errorf("--confusion %s: %w", f.confusion, err)
		}
	}
	if o := outs[f.confusionPNG]; o != nil {
		if err := rep.WriteConfusionPNG(o); err != nil {
			return fmt.Errorf("--confusion-png %s: %w", f.confusionPNG, err)
		}
	}
	return nil
}
