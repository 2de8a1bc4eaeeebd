package bench

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WritePlotFile writes the report's plot as a PNG file (see WritePlot).
func (r *Report) WritePlotFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	if err := r.WritePlot(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: plot %s: %w", path, err)
	}
	return nil
}

// WritePlot draws two panels side by side as a PNG: p50 latency (ms) and
// throughput (img/s) against batch size, both on log axes, one line per
// engine (its name says device and precision), under a title naming the
// model, the device and the commit.
func (r *Report) WritePlot(w io.Writer) error {
	lat := plot.New()
	lat.Title.Text = r.plotTitle() + "\nlatency (p50, submit → logits)"
	lat.X.Label.Text = "batch size"
	lat.Y.Label.Text = "ms"
	thr := plot.New()
	thr.Title.Text = " \nthroughput"
	thr.X.Label.Text = "batch size"
	thr.Y.Label.Text = "images / s"

	var batches []int
	palette := []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
		color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	}
	lines := 0
	for i, p := range r.Paths {
		var lxy, txy plotter.XYs
		for _, b := range p.Batches {
			if b.Latency.N == 0 || math.IsNaN(b.Latency.P50) || b.Latency.P50 <= 0 || b.ImgPerSec <= 0 {
				continue
			}
			lxy = append(lxy, plotter.XY{X: float64(b.Batch), Y: b.Latency.P50})
			txy = append(txy, plotter.XY{X: float64(b.Batch), Y: b.ImgPerSec})
			batches = append(batches, b.Batch)
		}
		if len(lxy) == 0 {
			continue
		}
		name := p.Path + ": " + p.Label
		c := palette[i%len(palette)]
		for _, pair := range []struct {
			pl  *plot.Plot
			xys plotter.XYs
		}{{lat, lxy}, {thr, txy}} {
			l, s, err := plotter.NewLinePoints(pair.xys)
			if err != nil {
				return err
			}
			l.Color, s.Color = c, c
			l.Width = vg.Points(1.5)
			s.Shape = draw.CircleGlyph{}
			pair.pl.Add(l, s)
			pair.pl.Legend.Add(name, l, s)
		}
		lines++
	}
	if lines == 0 {
		return fmt.Errorf("nothing to plot: no measured batch")
	}
	slices.Sort(batches)
	batches = slices.Compact(batches)
	var ticks []plot.Tick
	for _, b := range batches {
		ticks = append(ticks, plot.Tick{Value: float64(b), Label: strconv.Itoa(b)})
	}
	for _, pl := range []*plot.Plot{lat, thr} {
		pl.Legend.Top = true
		pl.Legend.Left = pl == lat
		pl.Legend.YOffs = -vg.Points(6)
		pl.Title.Padding = vg.Points(6)
		pl.Add(plotter.NewGrid())
		pl.Y.Scale = plot.LogScale{}
		pl.Y.Tick.Marker = logTicks{}
		if len(batches) > 1 {
			pl.X.Scale = plot.LogScale{}
			pl.X.Min, pl.X.Max = float64(batches[0])/1.3, float64(batches[len(batches)-1])*1.3
		} else {
			pl.X.Min, pl.X.Max = float64(batches[0])-1, float64(batches[0])+1
		}
		pl.X.Tick.Marker = plot.ConstantTicks(ticks)
		// Room below the lowest point and above for the legend.
		pl.Y.Min /= 1.6
		pl.Y.Max *= 3
	}

	const wd, ht = 12 * vg.Inch, 5 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(wd, ht), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{{lat, thr}}, tiles, dc)
	lat.Draw(canvases[0][0])
	thr.Draw(canvases[0][1])
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// logTicks labels 1, 2, 5 × powers of ten, which log-scale axes over one or
// two decades need (plot.LogTicks labels powers of ten only), all in one
// plain decimal format (0.5, 20, 5000; never 5e+03).
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		p := math.Pow(10, e)
		for _, m := range []float64{1, 2, 5} {
			v := m * p
			if v < lo || v > hi {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		}
	}
	return ts
}

// plotTitle is the plot's first line: model, device and commit.
func (r *Report) plotTitle() string {
	t := r.Model
	if r.Device != nil {
		t += " on " + r.Device.Name
	} else if len(r.Paths) > 0 {
		t += " on " + r.Paths[0].Label
	}
	if r.Commit != "" {
		t += ", commit " + r.Commit
	}
	return t
}
