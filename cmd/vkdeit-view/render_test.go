package main

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/explain"
)

// TestLayout: for window sizes from the smallest --size allows to a large
// one, the image square, the panel and the footer lie inside the window
// without overlapping, and the image square is as tall as the room left.
func TestLayout(t *testing.T) {
	for _, sz := range [][2]int{{64, 64}, {640, 360}, {900, 500}, {500, 900}, {8192, 8192}} {
		w, h := sz[0], sz[1]
		l := layoutFor(w, h)
		win := image.Rect(0, 0, w, h)
		for _, r := range []image.Rectangle{l.Image, l.Panel, l.Footer} {
			require.True(t, r.In(win), "%dx%d: %v outside the window", w, h, r)
		}
		require.Equal(t, l.Image.Dx(), l.Image.Dy(), "%dx%d: the image area is square", w, h)
		require.Positive(t, l.Image.Dx())
		require.True(t, l.Image.Intersect(l.Panel).Empty(), "%dx%d: image and panel overlap", w, h)
		require.True(t, l.Image.Intersect(l.Footer).Empty(), "%dx%d: image and footer overlap", w, h)
		require.True(t, l.Panel.Intersect(l.Footer).Empty(), "%dx%d: panel and footer overlap", w, h)
		require.LessOrEqual(t, l.Image.Dx(), w*3/5, "%dx%d: the image takes at most 60%% of the width", w, h)
	}
}

// uniform returns a w×h image of one colour.
func uniform(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// TestRender: the image region holds the crop scaled by nearest neighbour
// (each crop pixel a block), the overlay changes it, and the ranking draws
// text and score bars whose filled length follows the score.
func TestRender(t *testing.T) {
	const w, h = 640, 360
	crop := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for i, c := range []color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 255, 255}} {
		crop.SetRGBA(i%2, i/2, c)
	}
	v := &view{Name: "x.png", Pos: 1, Count: 3, Crop: crop, Engine: "test engine",
		Preds: []classify.Prediction{{Label: "first", Score: 0.75}, {Label: "second", Score: 0.25}},
		Heat:  &explain.Map{Method: explain.Rollout, Token: "cls", Head: -1, Rows: 2, Cols: 2, Values: []float64{1, 0, 0, 0}}}
	var p painter
	frame := image.NewRGBA(image.Rect(0, 0, w, h))
	p.render(frame, v)
	l := layoutFor(w, h)
	half := l.Image.Dx() / 2
	for i := range 4 {
		x := l.Image.Min.X + (i%2)*half + half/2
		y := l.Image.Min.Y + (i/2)*half + half/2
		require.Equal(t, crop.RGBAAt(i%2, i/2), frame.RGBAAt(x, y), "crop pixel %d", i)
	}

	v.Overlay = true
	on := image.NewRGBA(frame.Rect)
	p.render(on, v)
	require.NotEqual(t, frame.RGBAAt(l.Image.Min.X+1, l.Image.Min.Y+1), on.RGBAAt(l.Image.Min.X+1, l.Image.Min.Y+1))
	require.Equal(t, differing(frame, on, l.Panel, 0), 0, "the overlay touches only the image")

	// Score bars: count bar-coloured pixels on each bar's row.
	bars := []int{}
	for y := l.Panel.Min.Y; y < l.Panel.Max.Y; y++ {
		n := 0
		for x := l.Panel.Min.X; x < l.Panel.Max.X; x++ {
			if frame.RGBAAt(x, y) == colBar {
				n++
			}
		}
		if n > 0 && (len(bars) == 0 || bars[len(bars)-1] != n) {
			bars = append(bars, n)
		}
	}
	require.Len(t, bars, 2, "one bar a prediction")
	require.InDelta(t, 3, float64(bars[0])/float64(bars[1]), 0.05, "bars follow the scores 0.75 and 0.25")
	textPixels := 0
	for y := l.Panel.Min.Y; y < l.Panel.Max.Y; y++ {
		for x := l.Panel.Min.X; x < l.Panel.Max.X; x++ {
			if c := frame.RGBAAt(x, y); c.R > 200 && c.G > 200 && c.B > 200 {
				textPixels++
			}
		}
	}
	require.Greater(t, textPixels, 100, "title and labels are drawn")
}

// TestRenderStatus: an error is written in the error colour, wrapped; a
// frame without a crop leaves the image area empty.
func TestRenderStatus(t *testing.T) {
	frame := image.NewRGBA(image.Rect(0, 0, 400, 200))
	(&painter{}).render(frame, &view{Name: "bad.png", Status: "imageio: bad.png: unsupported image format: a long message that must wrap over lines", Err: true})
	l := layoutFor(400, 200)
	require.Equal(t, colImageBack, frame.RGBAAt(l.Image.Min.X+5, l.Image.Min.Y+5))
	red := 0
	for y := l.Panel.Min.Y; y < l.Panel.Max.Y; y++ {
		for x := l.Panel.Min.X; x < l.Panel.Max.X; x++ {
			if c := frame.RGBAAt(x, y); c.R > 200 && c.G < 150 {
				red++
			}
		}
	}
	require.Greater(t, red, 50, "the error is drawn in red")
}

// TestFitWrap: text is shortened with "..." to a width, and wrapped into
// at most n lines that each fit.
func TestFitWrap(t *testing.T) {
	regular, _ := (&painter{}).faces(14)
	require.Equal(t, "short", fit(regular, "short", 200))
	got := fit(regular, "German shepherd, German shepherd dog, German police dog, alsatian", 120)
	require.Regexp(t, `^German.*\.\.\.$`, got)
	require.Empty(t, fit(regular, "anything", 1))
	lines := wrap(regular, "one two three four five six seven eight nine ten eleven twelve", 80, 3)
	require.Len(t, lines, 3)
	require.Regexp(t, `\.\.\.$`, lines[2], "the rest is cut on the last line")
}
