package eval

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// Line is the results line of timm's validate.py, in its field order, for
// comparing with published tables: accuracies in percent rounded to 4
// decimals, the parameter count in millions rounded to 2.
type Line struct {
	Model         string  `json:"model"`
	Top1          float64 `json:"top1"`
	Top1Err       float64 `json:"top1_err"`
	Top5          float64 `json:"top5"`
	Top5Err       float64 `json:"top5_err"`
	ParamCount    float64 `json:"param_count"`
	ImgSize       int     `json:"img_size"`
	CropPct       float64 `json:"crop_pct"`
	Interpolation string  `json:"interpolation"`
}

// lineHeader is Line's CSV header, timm's column names.
var lineHeader = []string{"model", "top1", "top1_err", "top5", "top5_err", "param_count", "img_size", "crop_pct", "interpolation"}

// NewLine makes the results line of r for model m, named name.
func NewLine(name string, m *deit.Model, r *Results) Line {
	round := func(x float64, d int) float64 {
		p := math.Pow(10, float64(d))
		return math.Round(x*p) / p
	}
	top1, topK := r.Top1(), r.TopK()
	pre := m.Preprocessor
	if pre == nil {
		pre = imageio.DefaultPreprocessor()
	}
	return Line{
		Model: name, Top1: round(top1, 4), Top1Err: round(100-top1, 4), Top5: round(topK, 4), Top5Err: round(100-topK, 4),
		ParamCount: round(float64(m.Weights.Count())/1e6, 2), ImgSize: m.Config.ImageSize,
		CropPct: round(CropPct(pre), 4), Interpolation: Interpolation(pre.Resample),
	}
}

// WriteJSON writes the line as one JSON object and a newline.
func (l Line) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteCSV writes timm's header and the line.
func (l Line) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	cw.Write(lineHeader)
	cw.Write([]string{l.Model, f(l.Top1), f(l.Top1Err), f(l.Top5), f(l.Top5Err), f(l.ParamCount),
		strconv.Itoa(l.ImgSize), f(l.CropPct), l.Interpolation})
	cw.Flush()
	return cw.Error()
}

// CropPct is timm's crop_pct of a preprocessor: the crop's height over the
// resized height (224/256 = 0.875 for deit-*-224), 1 without a crop.
func CropPct(p *imageio.Preprocessor) float64 {
	if !p.DoCenterCrop || !p.DoResize {
		return 1
	}
	h := p.Height
	if p.ShortestEdge > 0 {
		h = p.ShortestEdge
	}
	if h <= 0 {
		return 1
	}
	return float64(p.CropH) / float64(h)
}

// Interpolation names a PIL resample filter as timm does.
func Interpolation(resample int) string {
	switch resample {
	case imageio.ResampleNearest:
		return "nearest"
	case imageio.ResampleLanczos:
		return "lanczos"
	case imageio.ResampleBilinear:
		return "bilinear"
	case imageio.ResampleBicubic:
		return "bicubic"
	case imageio.ResampleBox:
		return "box"
	case imageio.ResampleHamming:
		return "hamming"
	}
	return strconv.Itoa(resample)
}

// confusionClasses are the classes a confusion matrix shows: every true
// class and every class predicted, sorted.
func (r *Results) confusionClasses() []int {
	var cs []int
	for k := range r.Confusion {
		for _, c := range k {
			if !slices.Contains(cs, c) {
				cs = append(cs, c)
			}
		}
	}
	slices.Sort(cs)
	return cs
}

// WriteConfusionCSV writes the confusion matrix: one row per true class and
// one column per predicted class (the classes that are either), images
// counted in the cells; the first column and the header name the classes
// ("index label").
func (r *Results) WriteConfusionCSV(w io.Writer, labels []string) error {
	cs := r.confusionClasses()
	cw := csv.NewWriter(w)
	name := func(c int) string { return strconv.Itoa(c) + " " + labelAt(labels, c) }
	head := []string{"true \\ predicted"}
	for _, c := range cs {
		head = append(head, name(c))
	}
	cw.Write(head)
	for _, t := range cs {
		row := []string{name(t)}
		for _, p := range cs {
			row = append(row, strconv.Itoa(r.Confusion[[2]int{t, p}]))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// WriteConfusionPNG draws the confusion matrix as a heat map in the CSV's
// class order: row t, column p is white for no images of class t predicted
// p and dark blue for all of them (each row normalized by its class's
// images), the diagonal being the correct answers. A cell is square, up to
// 16 pixels, the image at most 2048 pixels a side (larger matrices share
// pixels between cells, keeping each pixel's largest share).
func (r *Results) WriteConfusionPNG(w io.Writer) error {
	cs := r.confusionClasses()
	n := len(cs)
	if n == 0 {
		return fmt.Errorf("eval: empty confusion matrix")
	}
	pos := make(map[int]int, n)
	for i, c := range cs {
		pos[c] = i
	}
	rowTotal := make([]int, n)
	for k, v := range r.Confusion {
		rowTotal[pos[k[0]]] += v
	}
	cell := max(1, min(16, 2048/n))
	side := min(n*cell, 2048)
	share := make([]float64, side*side)
	for k, v := range r.Confusion {
		t, p := pos[k[0]], pos[k[1]]
		f := float64(v) / float64(rowTotal[t])
		for y := t * side / n; y < max((t+1)*side/n, t*side/n+1); y++ {
			for x := p * side / n; x < max((p+1)*side/n, p*side/n+1); x++ {
				share[y*side+x] = max(share[y*side+x], f)
			}
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			f := share[y*side+x]
			// white → (8, 48, 107), a dark blue
			img.Set(x, y, color.RGBA{uint8(255 - f*247), uint8(255 - f*207), uint8(255 - f*148), 255})
		}
	}
	return png.Encode(w, img)
}

// labelAt is labels[i], or "LABEL_i" where there is none.
func labelAt(labels []string, i int) string {
	if i < len(labels) && labels[i] != "" {
		return labels[i]
	}
	return "LABEL_" + strconv.Itoa(i)
}

// PredictionsHeader is the header of WritePrediction's CSV rows.
var PredictionsHeader = []string{"path", "label", "class", "predicted", "predicted_label", "score", "correct", "top5", "error"}

// PredictionRow is one image's row of the per-image predictions CSV: its
// path, data label, true class, the predicted class, its label and score,
// whether it is right, the top-K classes separated by spaces, and the
// error when it could not be scored.
func PredictionRow(ir ImageResult, labels []string) []string {
	row := []string{ir.Path, ir.Label, strconv.Itoa(ir.Class)}
	if ir.Err != nil || len(ir.Top) == 0 {
		msg := "no prediction"
		if ir.Err != nil {
			msg = ir.Err.Error()
		}
		return append(row, "", "", "", "", "", msg)
	}
	top := ir.Top[0]
	ks := ""
	for i, p := range ir.Top {
		if i > 0 {
			ks += " "
		}
		ks += strconv.Itoa(p.Index)
	}
	return append(row, strconv.Itoa(top.Index), labelAt(labels, top.Index), strconv.FormatFloat(top.Score, 'g', 6, 64),
		strconv.FormatBool(top.Index == ir.Class), ks, "")
}
