package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/internal/humanize"
)

// Report is the outcome of Run: one PathReport per measured engine, plus
// what was run where.
type Report struct {
	Date          string         `json:"date"` // RFC 3339, UTC
	Commit        string         `json:"commit,omitempty"`
	GoVersion     string         `json:"go_version"`
	Host          string         `json:"host"`
	Model         string         `json:"model"`
	Config        string         `json:"config"`
	GFLOPPerImage float64        `json:"gflop_per_image"`
	Warmup        int            `json:"warmup"`
	Iters         int            `json:"iters"`
	MaxTimeSec    float64        `json:"max_time_s,omitempty"`
	Device        *DeviceSummary `json:"device,omitempty"`
	Paths         []PathReport   `json:"paths"`
	// Parity compares each engine's logits with the baseline's on the same
	// input (see Options.Targets).
	Parity []Parity `json:"parity,omitempty"`
	Notes  []string `json:"notes,omitempty"`
	Ratios []Ratio  `json:"ratios,omitempty"` // filled by ComputeRatios
}

// DeviceSummary names the Vulkan device a GPU engine ran on.
type DeviceSummary struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Driver      string `json:"driver"`
	APIVersion  string `json:"api_version"`
	MemoryBytes uint64 `json:"memory_bytes"`
}

// PathReport holds the measurements of one engine ("gpu", "cpu", "ref").
type PathReport struct {
	Path       string        `json:"path"`
	Label      string        `json:"label"`
	Arithmetic string        `json:"arithmetic,omitempty"` // fp32, fp16, fp16+coopmat MxNxK, float64
	Batches    []BatchResult `json:"batches"`
}

// BatchResult is one batch size on one path.
type BatchResult struct {
	Batch int `json:"batch"`
	// Latency is the wall clock from submitting the batch to having its logits.
	Latency   Stats   `json:"latency"`
	ImgPerSec float64 `json:"img_per_s"`
	// TFLOPS is the effective rate at the model's FLOP count and ImgPerSec.
	TFLOPS float64 `json:"tflops"`
	// DeviceMs is the summed kernel time of one forward pass (GPU
	// timestamps, or the CPU engine's per-kernel clock; median of the
	// profiled runs); 0 when not measured.
	DeviceMs     float64      `json:"device_ms,omitempty"`
	DeviceTFLOPS float64      `json:"device_tflops,omitempty"`
	Kernels      []KernelStat `json:"kernels,omitempty"`
	// Configs names the configuration every matmul and attention step ran
	// with and whether it came from the device's tuning or from the
	// heuristic (GPU engines; see vkdeit tune).
	Configs []engine.KernelChoice `json:"configs,omitempty"`
}

// Parity is the difference between one engine's logits (Path) and the
// baseline's (Base) at one batch size.
type Parity struct {
	Batch int    `json:"batch"`
	Path  string `json:"path"`
	Base  string `json:"base"`
	Diff
}

// Ratio compares the throughput of two paths at one batch size.
type Ratio struct {
	Batch int     `json:"batch"`
	Num   string  `json:"num"` // path in the numerator, e.g. "gpu"
	Den   string  `json:"den"`
	Value float64 `json:"value"` // Num img/s over Den img/s
}

// Find returns the result of path at batch b, or nil.
func (r *Report) Find(path string, b int) *BatchResult {
	for i := range r.Paths {
		if r.Paths[i].Path != path {
			continue
		}
		for j := range r.Paths[i].Batches {
			if r.Paths[i].Batches[j].Batch == b {
				return &r.Paths[i].Batches[j]
			}
		}
	}
	return nil
}

// ComputeRatios fills r.Ratios with the throughput of the first engine over
// each other engine's, at every batch size both measured.
func (r *Report) ComputeRatios() {
	r.Ratios = nil
	if len(r.Paths) == 0 {
		return
	}
	first := r.Paths[0]
	for _, p := range r.Paths[1:] {
		for _, g := range first.Batches {
			c := r.Find(p.Path, g.Batch)
			if c == nil || c.ImgPerSec == 0 {
				continue
			}
			r.Ratios = append(r.Ratios, Ratio{Batch: g.Batch, Num: first.Path, Den: p.Path, Value: g.ImgPerSec / c.ImgPerSec})
		}
	}
}

// WriteJSON writes the report as indented JSON. NaN or infinite latency
// statistics (empty measurements) are written as 0, and a non-finite parity
// difference as −1, since JSON has no NaN.
func (r *Report) WriteJSON(w io.Writer) error {
	r.ComputeRatios()
	b, err := json.MarshalIndent(sanitize(r), "", "  ")
	if err != nil {
		return fmt.Errorf("bench: json: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// sanitize returns a copy of r in which NaN and infinite floats are zero,
// since encoding/json rejects them.
func sanitize(r *Report) *Report {
	c := *r
	c.Paths = make([]PathReport, len(r.Paths))
	for i, p := range r.Paths {
		p.Batches = append([]BatchResult(nil), p.Batches...)
		for j := range p.Batches {
			s := &p.Batches[j].Latency
			for _, f := range []*float64{&s.Mean, &s.Min, &s.Max, &s.P50, &s.P95, &s.P99, &s.Std} {
				if math.IsNaN(*f) || math.IsInf(*f, 0) {
					*f = 0
				}
			}
		}
		c.Paths[i] = p
	}
	c.Parity = append([]Parity(nil), r.Parity...)
	for i := range c.Parity {
		pp := &c.Parity[i]
		if math.IsInf(pp.MaxAbs, 0) || math.IsNaN(pp.MaxAbs) {
			pp.MaxAbs = -1
		}
		if math.IsInf(pp.RelL2, 0) || math.IsNaN(pp.RelL2) {
			pp.RelL2 = -1
		}
	}
	return &c
}

// WriteText writes the report as readable tables: the run, per path and batch
// latency/throughput, batch-1 latency percentiles, ratios, parity, the
// per-kernel breakdown (batch 1 and the largest GPU batch) and notes.
func (r *Report) WriteText(w io.Writer) error {
	r.ComputeRatios()
	var b strings.Builder
	fmt.Fprintf(&b, "vkdeit bench  %s", r.Date)
	if r.Commit != "" {
		fmt.Fprintf(&b, "  commit %s", r.Commit)
	}
	fmt.Fprintf(&b, "\nmodel   %s: %s, %.4g GFLOP/image\n", r.Model, r.Config, r.GFLOPPerImage)
	fmt.Fprintf(&b, "host    %s, %s\n", r.Host, r.GoVersion)
	if r.Device != nil {
		fmt.Fprintf(&b, "device  %s (%s), driver %s, Vulkan %s, %s\n", r.Device.Name, r.Device.Type,
			r.Device.Driver, r.Device.APIVersion, humanize.Bytes(int64(r.Device.MemoryBytes)))
	}
	fmt.Fprintf(&b, "runs    %d warm-up + %d timed per batch", r.Warmup, r.Iters)
	if r.MaxTimeSec > 0 {
		fmt.Fprintf(&b, " (the whole run bounded to %gs; what did not fit is in the notes)", r.MaxTimeSec)
	}
	b.WriteString("\n\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tbatch\titers\tmean ms\tp50 ms\tp95 ms\tp99 ms\timg/s\tTFLOPS\tkernel ms\t")
	for _, p := range r.Paths {
		for _, br := range p.Batches {
			dev := "-"
			if br.DeviceMs > 0 {
				dev = fmt.Sprintf("%.3f", br.DeviceMs)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%.3f\t%s\t\n", p.Path, br.Batch,
				br.Latency.N, br.Latency.Mean, br.Latency.P50, br.Latency.P95, br.Latency.P99, br.ImgPerSec, br.TFLOPS, dev)
		}
	}
	tw.Flush()
	for _, p := range r.Paths {
		fmt.Fprintf(&b, "  %s = %s [%s]\n", p.Path, p.Label, p.Arithmetic)
	}

	for _, p := range r.Paths {
		if br := r.Find(p.Path, 1); br != nil {
			fmt.Fprintf(&b, "batch-1 latency, %s: p50 %.3f ms, p95 %.3f ms, p99 %.3f ms (%d runs)\n",
				p.Path, br.Latency.P50, br.Latency.P95, br.Latency.P99, br.Latency.N)
		}
	}
	for _, ra := range r.Ratios {
		fmt.Fprintf(&b, "%s/%s throughput at batch %d: %.2f×\n", strings.ToUpper(ra.Num), strings.ToUpper(ra.Den), ra.Batch, ra.Value)
	}
	for _, pp := range r.Parity {
		fmt.Fprintf(&b, "%s vs %s logits at batch %d: max abs %.3g, rel L2 %.3g\n",
			strings.ToUpper(pp.Path), strings.ToUpper(pp.Base), pp.Batch, pp.MaxAbs, pp.RelL2)
	}

	for _, p := range r.Paths {
		if len(p.Batches) == 0 {
			continue
		}
		show := []BatchResult{p.Batches[0]}
		if last := p.Batches[len(p.Batches)-1]; last.Batch != show[0].Batch {
			show = append(show, last)
		}
		for _, br := range show {
			if len(br.Kernels) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\nper-kernel time, %s, batch %d (%.3f ms per forward):\n", p.Path, br.Batch, br.DeviceMs)
			tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "kernel\tcount\ttotal µs\tshare\tGFLOPS\t")
			for _, k := range br.Kernels {
				gf := "-"
				if k.GFLOPS > 0 {
					gf = fmt.Sprintf("%.1f", k.GFLOPS)
				}
				fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f%%\t%s\t\n", k.Kernel, k.Count, k.TotalMicros, 100*k.Share, gf)
			}
			tw.Flush()
			writeConfigs(&b, br.Configs)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nnotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeConfigs summarizes the kernel configurations of one batch: how many
// steps ran tuned configurations, and each distinct configuration with its
// step count and source.
func writeConfigs(w io.Writer, cs []engine.KernelChoice) {
	if len(cs) == 0 {
		return
	}
	type key struct {
		cfg   string
		tuned bool
	}
	count := map[key]int{}
	var order []key
	tuned := 0
	for _, c := range cs {
		k := key{c.Config, c.Tuned}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
		if c.Tuned {
			tuned++
		}
	}
	fmt.Fprintf(w, "kernel configurations: %d of %d steps tuned\n", tuned, len(cs))
	for _, k := range order {
		src := "heuristic"
		if k.tuned {
			src = "tuned"
		}
		fmt.Fprintf(w, "  %3d× %s (%s)\n", count[k], k.cfg, src)
	}
}
