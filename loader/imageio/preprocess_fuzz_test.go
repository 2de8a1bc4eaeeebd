package imageio

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzPreprocessorConfig fuzzes preprocessor_config.json parsing. Whatever
// it accepts must preprocess a small image into finite values of sane size,
// as many as OutputSize promises.
func FuzzPreprocessorConfig(f *testing.F) {
	for _, dir := range []string{"tiny-distilled", "tiny-vit"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", dir, "preprocessor_config.json")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
		"feature_extractor_type": "DeiTFeatureExtractor", "image_mean": [0.485, 0.456, 0.406],
		"image_std": [0.229, 0.224, 0.225], "resample": 3, "size": 256}`))
	f.Add([]byte(`{"image_processor_type": "ViTImageProcessor", "size": {"height": 24, "width": 20}, "rescale_factor": 0.5, "do_rescale": true}`))
	f.Add([]byte(`{"size": {"shortest_edge": 12}, "crop_size": [8, 10], "image_mean": 0.5, "image_std": [0.25], "do_rescale": false}`))
	f.Add([]byte(`{"image_std": 1e-45, "rescale_factor": 1e38, "do_normalize": false}`))
	img := formulaImage(7, 5)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePreprocessor(data)
		if err != nil {
			return
		}
		h, w := p.OutputSize(img.W, img.H)
		if h <= 0 || w <= 0 {
			t.Fatalf("accepted config gives a %dx%d output", h, w)
		}
		if p.DoResize {
			if rw, rh := p.resizeSize(img.W, img.H); int64(rw)*int64(rh) > 1<<16 {
				return // a valid but large resize would only slow the fuzzer down
			}
		}
		if int64(h)*int64(w) > 1<<16 {
			return
		}
		out, err := p.Apply(img)
		if err != nil {
			t.Fatalf("accepted config fails to preprocess: %v", err)
		}
		if len(out) != 3*h*w {
			t.Fatalf("%d values for a %dx%d output", len(out), h, w)
		}
		for i, v := range out {
			if !(v >= -maxPixelMagnitude && v <= maxPixelMagnitude) {
				t.Fatalf("value %d is %v", i, v)
			}
		}
	})
}
