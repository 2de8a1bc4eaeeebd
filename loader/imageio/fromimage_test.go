package imageio

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFromImage(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix = []uint8{7, 200}
	// Premultiplied RGBA with half alpha: PIL would hold the straight
	// colour (200, 100, 0) and drop the alpha.
	rgba := image.NewRGBA(image.Rect(0, 0, 1, 1))
	rgba.SetRGBA(0, 0, color.RGBA{R: 100, G: 50, B: 0, A: 128})
	nrgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	nrgba.SetNRGBA(0, 0, color.NRGBA{R: 200, G: 100, B: 0, A: 128})
	// A sub-image starts at its own origin.
	big := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	big.SetNRGBA(2, 3, color.NRGBA{R: 1, G: 2, B: 3, A: 255})
	sub := big.SubImage(image.Rect(2, 3, 3, 4))
	for _, tc := range []struct {
		name string
		in   image.Image
		want []uint8
	}{
		{"gray", gray, []uint8{7, 7, 7, 200, 200, 200}},
		{"rgba premultiplied", rgba, []uint8{199, 99, 0}},
		{"nrgba", nrgba, []uint8{200, 100, 0}},
		{"sub-image", sub, []uint8{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := FromImage(tc.in)
			require.NoError(t, err)
			b := tc.in.Bounds()
			require.Equal(t, [2]int{b.Dx(), b.Dy()}, [2]int{img.W, img.H})
			require.Equal(t, tc.want, img.Pix)
		})
	}
	_, err := FromImage(nil)
	require.ErrorContains(t, err, "nil image")
	_, err = FromImage(image.NewGray(image.Rect(0, 0, 0, 5)))
	require.ErrorContains(t, err, "empty image")
}
