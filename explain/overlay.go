package explain

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/vkdeit/vkdeit/loader/imageio"
)

// Overlay drawing. The picture is the model's input crop, scaled up by a
// whole factor to at least MinSide pixels (a 32-pixel test model's crop
// would leave no room for text), the map blended over it in a colour scale,
// and the caption lines written in a dark band below it.

// MinSide is the smallest side Overlay scales a picture up to.
const MinSide = 224

// overlayAlpha is the weight of the map's colour over the picture.
const overlayAlpha = 0.55

// InputCrop returns the part of img the model sees, at the model's input
// resolution: img through pre's resize and center crop, without the
// rescale and normalization (the same code as the model's input, so the
// same pixels).
func InputCrop(img *imageio.Image, pre *imageio.Preprocessor) (*image.RGBA, error) {
	if pre == nil {
		pre = imageio.DefaultPreprocessor()
	}
	raw := *pre
	raw.DoRescale, raw.DoNormalize = false, false
	px, err := raw.Apply(img)
	if err != nil {
		return nil, fmt.Errorf("explain: input crop: %w", err)
	}
	h, w := raw.OutputSize(img.W, img.H)
	if len(px) != 3*w*h {
		return nil, fmt.Errorf("explain: input crop: %d values for a %dx%d crop", len(px), w, h)
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	plane := w * h
	for i := range plane {
		for c := range 3 {
			out.Pix[4*i+c] = uint8(min(max(math.Round(float64(px[c*plane+i])), 0), 255))
		}
		out.Pix[4*i+3] = 255
	}
	return out, nil
}

// Overlay draws m over pic (the model's input crop) as a colour map —
// blue for the least attended cells through green and yellow to red for
// the most, scaled to the map's largest value and interpolated bilinearly
// between cell centres — scaled up by a whole factor to at least MinSide
// pixels, with the caption lines (for example the top-3 labels and scores)
// written below it in white on black.
func Overlay(pic image.Image, m Map, caption []string) (*image.RGBA, error) {
	b := pic.Bounds()
	if b.Empty() {
		return nil, errors.New("explain: overlay: empty picture")
	}
	if m.Rows < 1 || m.Cols < 1 || len(m.Values) != m.Rows*m.Cols {
		return nil, fmt.Errorf("explain: overlay: map %s has %d values for a %d×%d grid", m.Name(), len(m.Values), m.Rows, m.Cols)
	}
	var peak float64
	for _, v := range m.Values {
		peak = math.Max(peak, v)
	}
	if !(peak > 0) || math.IsInf(peak, 0) {
		return nil, fmt.Errorf("explain: overlay: map %s has no positive finite value", m.Name())
	}
	k := max(1, (MinSide+min(b.Dx(), b.Dy())-1)/min(b.Dx(), b.Dy()))
	W, H := b.Dx()*k, b.Dy()*k
	const lineH, pad = 15, 4 // basicfont.Face7x13 lines
	band := 0
	if len(caption) > 0 {
		band = len(caption)*lineH + 2*pad
	}
	out := image.NewRGBA(image.Rect(0, 0, W, H+band))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	for y := range H {
		// The cell coordinate of the pixel centre, cells centred at i + 0.5.
		gy := (float64(y)+0.5)/float64(H)*float64(m.Rows) - 0.5
		for x := range W {
			gx := (float64(x)+0.5)/float64(W)*float64(m.Cols) - 0.5
			heat := colormap(bilinear(m, gx, gy) / peak)
			r, g, bl, _ := pic.At(b.Min.X+x/k, b.Min.Y+y/k).RGBA()
			i := out.PixOffset(x, y)
			for c, v := range [3]uint32{r >> 8, g >> 8, bl >> 8} {
				out.Pix[i+c] = uint8(math.Round((1-overlayAlpha)*float64(v) + overlayAlpha*float64(heat[c])))
			}
			out.Pix[i+3] = 255
		}
	}
	d := font.Drawer{Dst: out, Src: image.NewUniform(color.White), Face: basicfont.Face7x13}
	for i, line := range caption {
		d.Dot = fixed.P(pad, H+pad+(i+1)*lineH-4)
		d.DrawString(line)
	}
	return out, nil
}

// bilinear samples m at grid coordinates (gx, gy), clamped to the grid.
func bilinear(m Map, gx, gy float64) float64 {
	clamp := func(v float64, n int) (int, int, float64) {
		v = math.Min(math.Max(v, 0), float64(n-1))
		i := int(v)
		j := min(i+1, n-1)
		return i, j, v - float64(i)
	}
	x0, x1, fx := clamp(gx, m.Cols)
	y0, y1, fy := clamp(gy, m.Rows)
	at := func(x, y int) float64 { return m.Values[y*m.Cols+x] }
	top := at(x0, y0)*(1-fx) + at(x1, y0)*fx
	bottom := at(x0, y1)*(1-fx) + at(x1, y1)*fx
	return top*(1-fy) + bottom*fy
}

// colormapStops are the colours of the scale at 0, ¼, ½, ¾ and 1: dark
// blue, cyan, green, yellow, red.
var colormapStops = [...][3]float64{{0, 0, 143}, {0, 200, 255}, {40, 200, 40}, {255, 230, 0}, {220, 0, 0}}

// colormap is the scale's colour at v in [0, 1].
func colormap(v float64) [3]uint8 {
	v = math.Min(math.Max(v, 0), 1) * float64(len(colormapStops)-1)
	i := min(int(v), len(colormapStops)-2)
	f := v - float64(i)
	var c [3]uint8
	for k := range c {
		c[k] = uint8(math.Round(colormapStops[i][k]*(1-f) + colormapStops[i+1][k]*f))
	}
	return c
}
