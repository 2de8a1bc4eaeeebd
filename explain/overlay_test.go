package explain

import (
	"image"
	"image/color"
	"image/draw"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// TestInputCrop: the crop holds the bytes the model's input was made of —
// the same pixels, rescaled and normalized, are the preprocessor's output.
func TestInputCrop(t *testing.T) {
	img, err := imageio.Load(fixture.Path("grace_hopper_96x112.png"), imageio.DecodeOptions{})
	require.NoError(t, err)
	pre, err := imageio.ReadPreprocessor(fixture.Path("tiny-distilled", "preprocessor_config.json"))
	require.NoError(t, err)
	crop, err := InputCrop(img, pre)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 32, 32), crop.Bounds())
	px, err := pre.Apply(img)
	require.NoError(t, err)
	plane := 32 * 32
	for i := range plane {
		require.Equal(t, uint8(255), crop.Pix[4*i+3])
		for c := range 3 {
			v := (float64(crop.Pix[4*i+c])*pre.RescaleFactor - float64(pre.Mean[c])) / float64(pre.Std[c])
			require.InDelta(t, v, px[c*plane+i], 1e-5, "pixel %d channel %d", i, c)
		}
	}
	_, err = InputCrop(&imageio.Image{}, pre)
	require.ErrorContains(t, err, "explain: input crop: imageio: preprocess: empty or malformed image")
}

// TestOverlay: a map peaked in its top-left cell over a grey picture: red
// there, blue in the opposite corner, the picture scaled up to MinSide, the
// caption in a band below.
func TestOverlay(t *testing.T) {
	pic := image.NewRGBA(image.Rect(0, 0, 32, 32))
	draw.Draw(pic, pic.Bounds(), image.NewUniform(color.Gray{128}), image.Point{}, draw.Src)
	m := Map{Method: Rollout, Token: "cls", Head: -1, Rows: 2, Cols: 2, Values: []float64{1, 0, 0, 0}}
	caption := []string{"cat 0.812", "dog 0.100", "fox 0.020"}
	out, err := Overlay(pic, m, caption)
	require.NoError(t, err)
	const band = 3*15 + 2*4
	require.Equal(t, image.Rect(0, 0, 224, 224+band), out.Bounds(), "32 px scaled by 7, and the caption band")
	// 0.45·128 + 0.55·(220, 0, 0) and 0.45·128 + 0.55·(0, 0, 143).
	require.Equal(t, color.RGBA{179, 58, 58, 255}, out.RGBAAt(0, 0))
	require.Equal(t, color.RGBA{58, 58, 136, 255}, out.RGBAAt(223, 223))
	// Between the cell centres the map is interpolated: halfway across the
	// top row (x = 111.5) it is at half its peak, green.
	mid := out.RGBAAt(112, 0)
	require.Greater(t, mid.G, mid.R)
	require.Greater(t, mid.G, mid.B)
	white := 0
	for y := 224; y < 224+band; y++ {
		for x := range 224 {
			c := out.RGBAAt(x, y)
			require.Equal(t, c.R, c.G, "the caption is white on black")
			if c.R == 255 {
				white++
			}
		}
	}
	require.Greater(t, white, 3*9*10, "three lines of about nine glyphs are drawn")

	// A large picture is not scaled; no caption, no band.
	big := image.NewRGBA(image.Rect(10, 20, 310, 270))
	out, err = Overlay(big, m, nil)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 300, 250), out.Bounds())

	_, err = Overlay(image.NewRGBA(image.Rectangle{}), m, nil)
	require.ErrorContains(t, err, "empty picture")
	_, err = Overlay(pic, Map{Method: Last, Token: "dist", Head: 1, Rows: 2, Cols: 2, Values: []float64{1}}, nil)
	require.ErrorContains(t, err, "map last-dist-head1 has 1 values for a 2×2 grid")
	_, err = Overlay(pic, Map{Method: Rollout, Token: "cls", Head: -1, Rows: 1, Cols: 1, Values: []float64{0}}, nil)
	require.ErrorContains(t, err, "no positive finite value")
}

func TestColormap(t *testing.T) {
	require.Equal(t, [3]uint8{0, 0, 143}, colormap(0))
	require.Equal(t, [3]uint8{40, 200, 40}, colormap(0.5))
	require.Equal(t, [3]uint8{220, 0, 0}, colormap(1))
	require.Equal(t, colormap(1), colormap(7), "clamped")
	require.Equal(t, colormap(0), colormap(-1))
}
