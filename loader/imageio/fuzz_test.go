package imageio

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzSeeds returns the small committed test images, as seeds for the fuzzers.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	entries, err := os.ReadDir(goldenDir)
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") || strings.HasSuffix(e.Name(), ".gz") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(goldenDir, e.Name()))
		require.NoError(t, err)
		if len(data) <= 10000 {
			seeds = append(seeds, data)
		}
	}
	return seeds
}

// FuzzDecodeImage decodes arbitrary bytes with the real limits: the default
// MaxPixels and MaxBytes, and a 64 MiB Budget, which refuses what would need
// more (so a 10000-byte input cannot make one execution take gigabytes).
// Decoded images must be well formed and preprocess.
func FuzzDecodeImage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	// Bombs: refused from the header, or by the budget.
	f.Add(webpBomb(12000, 12000))
	f.Add(webpBomb(3000, 3000))
	f.Add(jpegWithSize(f, "q75_420_progressive.jpg", 12000, 12000))
	f.Add(jpegWithSize(f, "cmyk_progressive.jpg", 4000, 3000))
	f.Add(pngWithSize(f, 100000, 100000))
	budget := NewBudget(64 << 20)
	p := &Preprocessor{DoResize: true, Height: 9, Width: 7, Resample: ResampleBicubic,
		DoCenterCrop: true, CropH: 8, CropW: 8, DoRescale: true, RescaleFactor: 1.0 / 255,
		DoNormalize: true, Mean: imagenetMean, Std: imagenetStd}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(bytes.NewReader(data), DecodeOptions{Budget: budget})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
			t.Fatalf("bad image %dx%d with %d bytes", img.W, img.H, len(img.Pix))
		}
		out, err := p.Apply(img)
		if err != nil || len(out) != 3*8*8 {
			t.Fatalf("apply: %v (%d values)", err, len(out))
		}
	})
}
