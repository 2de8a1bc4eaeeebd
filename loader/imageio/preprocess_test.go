package imageio

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPreprocessReadConfigs(t *testing.T) {
	cases := []struct {
		name string
		json string
		want *Preprocessor
		err  string
	}{
		{
			name: "hub deit-small-distilled (legacy feature extractor, size int)",
			json: `{"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
				"feature_extractor_type": "DeiTFeatureExtractor", "image_mean": [0.485, 0.456, 0.406],
				"image_std": [0.229, 0.224, 0.225], "resample": 3, "size": 256}`,
			want: DefaultPreprocessor(),
		},
		{
			name: "new-style dicts",
			json: `{"image_processor_type": "DeiTImageProcessor", "size": {"height": 438, "width": 438},
				"crop_size": {"height": 384, "width": 384}, "do_rescale": true, "rescale_factor": 0.00392156862745098,
				"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "resample": 3}`,
			want: func() *Preprocessor {
				p := DefaultPreprocessor()
				p.Height, p.Width, p.CropH, p.CropW = 438, 438, 384, 384
				return p
			}(),
		},
		{
			name: "ViT-style deit-small (no resample, no crop, 0.5)",
			json: `{"do_normalize": true, "do_resize": true, "feature_extractor_type": "ViTFeatureExtractor",
				"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "size": 224}`,
			want: &Preprocessor{DoResize: true, Height: 224, Width: 224, Resample: ResampleBilinear,
				DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true,
				Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}},
		},
		{
			name: "shortest edge, scalar mean, list size",
			json: `{"size": {"shortest_edge": 248}, "crop_size": [200, 210], "image_mean": 0.5, "image_std": [0.25],
				"do_rescale": false}`,
			want: func() *Preprocessor {
				p := DefaultPreprocessor()
				p.Height, p.Width, p.ShortestEdge = 0, 0, 248
				p.CropH, p.CropW = 200, 210
				p.DoRescale = false
				p.Mean, p.Std = [3]float32{0.5, 0.5, 0.5}, [3]float32{0.25, 0.25, 0.25}
				return p
			}(),
		},
		{name: "empty object → DeiT defaults", json: `{}`, want: DefaultPreprocessor()},
		{name: "bad json", json: `{"size": `, err: "invalid JSON"},
		{name: "null", json: `null`, err: "preprocessor_config.json: not a JSON object"},
		{name: "null with spaces", json: " \n null \n", err: "not a JSON object"},
		{name: "empty", json: ``, err: "not a JSON object"},
		{name: "list", json: `[{"size": 16}]`, err: "not a JSON object"},
		{name: "number", json: `224`, err: "not a JSON object"},
		{name: "bad size", json: `{"size": {"longest": 3}}`, err: "needs height and width"},
		{name: "bad crop", json: `{"crop_size": {"shortest_edge": 3}}`, err: "crop_size"},
		{name: "zero size", json: `{"size": 0}`, err: "not positive"},
		{name: "bad resample", json: `{"resample": 9}`, err: "resample 9"},
		{name: "zero std", json: `{"image_std": [0.2, 0, 0.2]}`, err: "image_std[1] is 0"},
		{name: "mean of 2", json: `{"image_mean": [0.2, 0.3]}`, err: "image_mean"},
		{name: "huge size", json: `{"size": {"height": 100000, "width": 100000}}`, err: "exceeds the 178956970-pixel image limit"},
		{name: "huge side", json: `{"size": {"height": 1, "width": 4611686018427387904}}`, err: "exceeds"},
		{name: "huge shortest edge", json: `{"size": {"shortest_edge": 1000000000}}`, err: "exceeds"},
		{name: "huge crop", json: `{"crop_size": 20000}`, err: "crop size 20000x20000 exceeds"},
		{name: "denormal std", json: `{"image_std": [0.2, 1e-45, 0.2]}`, err: "image_std[1] is 1e-45: want a positive, finite, normal float32"},
		{name: "subnormal std", json: `{"image_std": 1e-40}`, err: "image_std[0] is 1e-40"},
		{name: "std overflows float32", json: `{"image_std": [1e39, 1, 1]}`, err: "image_std[0] is +Inf"},
		{name: "negative std", json: `{"image_std": [-0.5, 0.5, 0.5]}`, err: "image_std[0] is -0.5"},
		{name: "tiny normal std", json: `{"image_std": [1e-30, 0.5, 0.5]}`, err: "channel 0 byte value 0 becomes -4.85e+29"},
		{name: "mean overflows float32", json: `{"image_mean": [0.5, -1e39, 0.5]}`, err: "image_mean[1] is -Inf"},
		{name: "huge mean", json: `{"image_mean": [0.5, 1e30, 0.5]}`, err: "channel 1 byte value 0 becomes -4.4"},
		{name: "huge rescale", json: `{"rescale_factor": 1e38}`, err: "channel 0 byte value 1 becomes"},
		{name: "rescale overflows float64", json: `{"rescale_factor": 1e309}`, err: "invalid JSON"},
		{name: "zero rescale", json: `{"rescale_factor": 0}`, err: "rescale_factor 0: want a positive finite number"},
		{name: "negative rescale", json: `{"rescale_factor": -0.004}`, err: "rescale_factor -0.004"},
		{name: "rescale without normalize", json: `{"rescale_factor": 1000, "do_normalize": false}`, err: "channel 0 byte value 66 becomes 66000"},
		{name: "std ignored without normalize", json: `{"image_std": 0, "do_normalize": false}`,
			want: func() *Preprocessor {
				p := DefaultPreprocessor()
				p.DoNormalize = false
				p.Std = [3]float32{}
				return p
			}()},
		{name: "rescale ignored without do_rescale", json: `{"rescale_factor": 0, "do_rescale": false, "image_mean": 127, "image_std": 64}`,
			want: func() *Preprocessor {
				p := DefaultPreprocessor()
				p.DoRescale, p.RescaleFactor = false, 0
				p.Mean, p.Std = [3]float32{127, 127, 127}, [3]float32{64, 64, 64}
				return p
			}()},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "preprocessor_config.json")
			require.NoError(t, os.WriteFile(path, []byte(c.json), 0o644))
			p, err := ReadPreprocessor(path)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				require.ErrorContains(t, err, path)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, p)
		})
	}
}

func TestPreprocessMissingFileIsDefault(t *testing.T) {
	p, err := ReadPreprocessor(filepath.Join(t.TempDir(), "nope.json"))
	require.NoError(t, err)
	require.Equal(t, DefaultPreprocessor(), p)
	_, err = ReadPreprocessor(t.TempDir()) // a directory: a real read error
	require.Error(t, err)
}

// HF's get_resize_output_image_size with default_to_square=False truncates
// the long side.
func TestPreprocessShortestEdgeSize(t *testing.T) {
	p := &Preprocessor{DoResize: true, ShortestEdge: 248}
	for _, c := range []struct{ w, h, ow, oh int }{
		{640, 480, 330, 248}, // 248·640/480 = 330.67
		{480, 640, 248, 330},
		{500, 500, 248, 248},
		{31, 517, 248, 4136}, // exactly 4136
		{300, 257, 289, 248}, // 248·300/257 = 289.49
	} {
		w, h := p.resizeSize(c.w, c.h)
		require.Equal(t, [2]int{c.ow, c.oh}, [2]int{w, h}, "%dx%d", c.w, c.h)
	}
}

// HF center_crop: floor offsets inside, zero padding with ceil offsets outside.
func TestPreprocessCropWindow(t *testing.T) {
	for _, c := range []struct{ w, h, cw, ch, x0, y0 int }{
		{256, 256, 224, 224, 16, 16},
		{257, 300, 224, 224, 16, 38},
		{64, 48, 69, 50, -3, -1}, // pad 5 → image at ceil(5/2)=3; pad 2 → 1
		{10, 10, 3, 3, 3, 3},
		{3, 3, 10, 10, -4, -4}, // pad 7 → image at 4
	} {
		x0, y0, w, h := cropWindow(c.w, c.h, c.cw, c.ch)
		require.Equal(t, [4]int{c.x0, c.y0, c.cw, c.ch}, [4]int{x0, y0, w, h}, "%+v", c)
	}
}

// The value ranges of the ImageNet lookup table (docs/preprocessing.md; checked with numpy).
func TestPreprocessLookupTableRanges(t *testing.T) {
	lut := DefaultPreprocessor().lookupTable()
	for c, want := range [][2]float64{{-2.117904, 2.248908}, {-2.035714, 2.428571}, {-1.804444, 2.640000}} {
		require.InDelta(t, want[0], lut[c][0], 1e-6)
		require.InDelta(t, want[1], lut[c][255], 1e-6)
	}
	// Rescale is float64 then cast: 1·(1/255) as float32, minus mean, over std.
	x := float32(1.0 / 255)
	require.Equal(t, math.Float32bits(float32((x-0.485)/0.229)), math.Float32bits(lut[0][1]))
}

func TestPreprocessApplyDeiTShape(t *testing.T) {
	img := formulaImage(640, 480)
	p := DefaultPreprocessor()
	out, err := p.Apply(img)
	require.NoError(t, err)
	require.Len(t, out, 3*224*224)
	// Pixel (0,0) of the crop is pixel (16,16) of the 256×256 resize.
	r := ResizeBicubic(img, 256, 256)
	lut := p.lookupTable()
	for c := 0; c < 3; c++ {
		require.Equal(t, lut[c][r.Pix[(16*256+16)*3+c]], out[c*224*224])
		require.Equal(t, lut[c][r.Pix[(239*256+239)*3+c]], out[c*224*224+223*224+223])
	}
}

func TestPreprocessApplyErrors(t *testing.T) {
	p := DefaultPreprocessor()
	_, err := p.Apply(nil)
	require.Error(t, err)
	_, err = p.Apply(&Image{W: 2, H: 2, Pix: make([]uint8, 5)})
	require.ErrorContains(t, err, "malformed")
	bad := *p
	bad.Std[2] = 0
	_, err = bad.Apply(formulaImage(4, 4))
	require.ErrorContains(t, err, "image_std[2]")
	// A hand-built Preprocessor is checked as a parsed one is.
	for _, edit := range []func(p *Preprocessor){
		func(p *Preprocessor) { p.Std[0] = float32(math.NaN()) },
		func(p *Preprocessor) { p.Mean[1] = float32(math.Inf(1)) },
		func(p *Preprocessor) { p.RescaleFactor = math.NaN() },
		func(p *Preprocessor) { p.RescaleFactor = math.Inf(1) },
		func(p *Preprocessor) { p.Std[2] = 1e-45 },
	} {
		bad := *p
		edit(&bad)
		_, err = bad.Apply(formulaImage(4, 4))
		require.Error(t, err, "%+v", bad)
	}
	// A shortest-edge resize of a very thin image would be enormous.
	thin := *p
	thin.Height, thin.Width, thin.ShortestEdge = 0, 0, 100_000
	_, err = thin.Apply(formulaImage(1, 2000))
	require.ErrorContains(t, err, "resizing 1x2000 to 100000x200000000 exceeds")
}

func BenchmarkPreprocessApply4000x3000(b *testing.B) {
	img := formulaImage(4000, 3000)
	p := DefaultPreprocessor()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Apply(img); err != nil {
			b.Fatal(err)
		}
	}
}
