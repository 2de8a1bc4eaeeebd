package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/explain"
)

// view is everything one frame shows. Frames are drawn on the CPU from it
// (render) and handed to the swapchain: the window shows exactly render's
// pixels, which is what the window test checks.
type view struct {
	Name       string      // the file's name
	Pos, Count int         // its 1-based position among Count images
	Crop       *image.RGBA // the model's input crop; nil until classified
	Preds      []classify.Prediction
	Heat       *explain.Map // the overlay's map; nil when none
	Overlay    bool         // the overlay is on
	Status     string       // a note ("classifying ...") or, with Err, the error
	Err        bool
	Engine     string // what runs the model
}

// Colours of the frame.
var (
	colBackground = color.RGBA{24, 24, 28, 255}
	colText       = color.RGBA{235, 235, 235, 255}
	colDim        = color.RGBA{150, 150, 160, 255}
	colError      = color.RGBA{255, 110, 110, 255}
	colBar        = color.RGBA{70, 150, 255, 255}
	colBarBack    = color.RGBA{55, 55, 66, 255}
	colImageBack  = color.RGBA{40, 40, 46, 255}
)

// layout is where a frame's parts go for a window of a given size.
type layout struct {
	Image  image.Rectangle // the square the crop is scaled into
	Panel  image.Rectangle // title, engine and the top-5 ranking
	Footer image.Rectangle // key help and the overlay's state
	Text   float64         // text size in pixels
}

// layoutFor splits a w×h frame: the image on the left as large as the
// height allows (at most 60% of the width), the ranking to its right, a
// footer line below both.
func layoutFor(w, h int) layout {
	pad := max(6, min(w, h)/40)
	text := math.Max(11, math.Min(22, float64(h)/28))
	footer := int(text*1.6) + pad
	side := max(1, min(h-2*pad-footer, (w-3*pad)*3/5))
	img := image.Rect(pad, pad, pad+side, pad+side)
	return layout{
		Image:  img,
		Panel:  image.Rect(img.Max.X+pad, pad, max(img.Max.X+pad, w-pad), img.Max.Y),
		Footer: image.Rect(pad, h-footer, max(pad, w-pad), max(h-footer, h-pad)),
		Text:   text,
	}
}

// painter draws frames; it keeps the fonts at the text size last used (a
// window's text size changes only when its height does).
type painter struct {
	size          float64
	regular, bold font.Face
}

// faces returns the regular and bold Go fonts at size pixels.
func (p *painter) faces(size float64) (regular, bold font.Face) {
	if p.regular == nil || p.size != size {
		p.size = size
		p.regular = newFace(goregular.TTF, size)
		p.bold = newFace(gobold.TTF, size)
	}
	return p.regular, p.bold
}

// render draws v into dst (the whole of dst is drawn).
func (p *painter) render(dst *image.RGBA, v *view) {
	b := dst.Bounds()
	draw.Draw(dst, b, image.NewUniform(colBackground), image.Point{}, draw.Src)
	l := layoutFor(b.Dx(), b.Dy())
	l.Image = l.Image.Add(b.Min)
	l.Panel = l.Panel.Add(b.Min)
	l.Footer = l.Footer.Add(b.Min)
	draw.Draw(dst, l.Image, image.NewUniform(colImageBack), image.Point{}, draw.Src)
	if v.Crop != nil {
		crop := v.Crop
		if v.Overlay && v.Heat != nil {
			// explain's overlay, as `vkdeit explain` draws it (a map it
			// cannot draw leaves the crop plain).
			if o, err := explain.Overlay(crop, *v.Heat, nil); err == nil {
				crop = o
			}
		}
		scaleNearest(dst, l.Image, crop)
	}

	regular, bold := p.faces(l.Text)
	lh := int(math.Ceil(l.Text * 1.35))
	x, y := l.Panel.Min.X, l.Panel.Min.Y
	width := l.Panel.Dx()
	title := v.Name
	if v.Count > 1 {
		title = fmt.Sprintf("%s  (%d/%d)", v.Name, v.Pos, v.Count)
	}
	drawText(dst, bold, x, y, fit(bold, title, width), colText)
	y += lh
	drawText(dst, regular, x, y, fit(regular, v.Engine, width), colDim)
	y += lh * 3 / 2
	if v.Status != "" {
		c := colDim
		if v.Err {
			c = colError
		}
		for _, line := range wrap(regular, v.Status, width, 4) {
			drawText(dst, regular, x, y, line, c)
			y += lh
		}
		y += lh / 2
	}
	for _, pr := range v.Preds {
		score := fmt.Sprintf("%.1f%%", 100*pr.Score)
		sw := font.MeasureString(regular, score).Ceil()
		drawText(dst, regular, x, y, fit(regular, pr.Label, width-sw-lh/2), colText)
		drawText(dst, regular, x+width-sw, y, score, colText)
		y += lh
		bar := image.Rect(x, y, x+width, y+max(3, lh/3))
		draw.Draw(dst, bar, image.NewUniform(colBarBack), image.Point{}, draw.Src)
		fill := bar
		fill.Max.X = x + int(math.Round(float64(width)*math.Min(1, math.Max(0, pr.Score))))
		draw.Draw(dst, fill, image.NewUniform(colBar), image.Point{}, draw.Src)
		y += bar.Dy() + lh/2
	}

	help := "\u2190 \u2192 previous/next   A overlay"
	state := "overlay off"
	switch {
	case v.Heat == nil:
		state = "no map"
	case v.Overlay:
		state = "overlay: " + v.Heat.Name()
	}
	drawText(dst, regular, l.Footer.Min.X, l.Footer.Min.Y, fit(regular, help+"   "+state, l.Footer.Dx()), colDim)
}

// scaleNearest draws src scaled into r of dst, nearest neighbour: the
// model's input pixels stay visible as they are.
func scaleNearest(dst *image.RGBA, r image.Rectangle, src *image.RGBA) {
	sb := src.Bounds()
	if sb.Empty() || r.Empty() {
		return
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		sy := sb.Min.Y + (y-r.Min.Y)*sb.Dy()/r.Dy()
		for x := r.Min.X; x < r.Max.X; x++ {
			sx := sb.Min.X + (x-r.Min.X)*sb.Dx()/r.Dx()
			copy(dst.Pix[dst.PixOffset(x, y):dst.PixOffset(x, y)+4], src.Pix[src.PixOffset(sx, sy):src.PixOffset(sx, sy)+4])
		}
	}
}

// newFace makes a face of an embedded TrueType font; the fonts are part of
// the binary, so failure is a programming error.
func newFace(ttf []byte, size float64) font.Face {
	f, err := opentype.Parse(ttf)
	if err != nil {
		panic(fmt.Sprintf("vkdeit-view: embedded font: %v", err))
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		panic(fmt.Sprintf("vkdeit-view: embedded font: %v", err))
	}
	return face
}

// drawText draws s with its top-left corner at (x, y).
func drawText(dst *image.RGBA, face font.Face, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: face,
		Dot: fixed.P(x, y+face.Metrics().Ascent.Ceil())}
	d.DrawString(s)
}

// fit shortens s with "..." until it is at most width pixels wide.
func fit(face font.Face, s string, width int) string {
	if font.MeasureString(face, s).Ceil() <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 0 {
		r = r[:len(r)-1]
		if t := strings.TrimRight(string(r), " ,") + "..."; font.MeasureString(face, t).Ceil() <= width {
			return t
		}
	}
	return ""
}

// wrap breaks s into at most n lines of at most width pixels, at spaces
// where it can; the last line is shortened with "...".
func wrap(face font.Face, s string, width, n int) []string {
	var lines []string
	words := strings.Fields(s)
	for len(words) > 0 && len(lines) < n {
		line := words[0]
		words = words[1:]
		for len(words) > 0 && font.MeasureString(face, line+" "+words[0]).Ceil() <= width {
			line += " " + words[0]
			words = words[1:]
		}
		if len(lines) == n-1 && len(words) > 0 {
			line += " " + strings.Join(words, " ")
			words = nil
		}
		lines = append(lines, fit(face, line, width))
	}
	return lines
}
