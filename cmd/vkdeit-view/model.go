package main

import (
	"context"
	"fmt"
	"image"
	"math"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// topK is how many classes the viewer lists.
const topK = 5

// classifier turns an image file into what the viewer shows: the model's
// input crop, the top-5 and the overlay's map.
type classifier struct {
	m   *deit.Model
	eng engine.Engine
	// cropPre is the model's preprocessor without rescaling and
	// normalization: its output is the input crop as 8-bit values.
	cropPre imageio.Preprocessor
	// heat computes the overlay's map from an engine run (see tokenNorms).
	heat heatSource
}

// heatSource is where the overlay's map comes from: the taps it needs from
// the engine, and the map computed from the engine's output.
type heatSource struct {
	taps deit.Tap
	name string
	fn   func(cfg deit.Config, out *engine.Output) (*heatMap, error)
}

func newClassifier(m *deit.Model, eng engine.Engine) *classifier {
	pre := *m.Preprocessor
	pre.DoRescale, pre.DoNormalize = false, false
	return &classifier{m: m, eng: eng, cropPre: pre, heat: tokenNorms}
}

// result is one file's classification, or why there is none.
type result struct {
	crop  *image.RGBA
	preds []classify.Prediction
	heat  *heatMap
	err   error
}

// classify decodes path, runs the model on it and ranks the classes.
// Errors name the file.
func (c *classifier) classify(ctx context.Context, path string) result {
	img, err := imageio.LoadContext(ctx, path, imageio.DecodeOptions{})
	if err != nil {
		return result{err: err}
	}
	r, err := c.classifyImage(ctx, img)
	if err != nil {
		return result{err: fmt.Errorf("%s: %w", path, err)}
	}
	return r
}

func (c *classifier) classifyImage(ctx context.Context, img *imageio.Image) (result, error) {
	pixels, err := c.m.Preprocessor.Apply(img)
	if err != nil {
		return result{}, err
	}
	crop, err := c.crop(img)
	if err != nil {
		return result{}, err
	}
	out, err := c.eng.Run(ctx, pixels, 1, c.heat.taps)
	if err != nil {
		return result{}, err
	}
	preds, err := classify.TopK(out.Logits, topK, c.m.Config.Labels) // refuses NaN and Inf logits
	if err != nil {
		return result{}, err
	}
	heat, err := c.heat.fn(c.m.Config, out)
	if err != nil {
		return result{}, fmt.Errorf("%s map: %w", c.heat.name, err)
	}
	return result{crop: crop, preds: preds, heat: heat}, nil
}

// crop returns the model's input crop of img as the 8-bit picture it is
// cut from (resized and center-cropped as the model's preprocessor does).
func (c *classifier) crop(img *imageio.Image) (*image.RGBA, error) {
	chw, err := c.cropPre.Apply(img)
	if err != nil {
		return nil, err
	}
	h, w := c.cropPre.OutputSize(img.W, img.H)
	if len(chw) != 3*h*w {
		return nil, fmt.Errorf("preprocessor made %d values, want 3×%d×%d", len(chw), h, w)
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := out.PixOffset(x, y)
			for k := 0; k < 3; k++ {
				out.Pix[o+k] = uint8(min(255, max(0, math.Round(float64(chw[(k*h+y)*w+x])))))
			}
			out.Pix[o+3] = 255
		}
	}
	return out, nil
}

// tokenNorms maps each patch to the length of its token in the last encoder
// layer's output (normalized to sum 1): where the network put the most
// activation. It is the overlay's map while the engines have no attention
// tap; attention rollout replaces it through heatSource.
var tokenNorms = heatSource{
	taps: deit.TapHidden,
	name: "last-layer token norm",
	fn: func(cfg deit.Config, out *engine.Output) (*heatMap, error) {
		if len(out.Hidden) == 0 {
			return nil, fmt.Errorf("the engine returned no hidden states")
		}
		last := out.Hidden[len(out.Hidden)-1]
		T, D, S := cfg.Tokens(), cfg.Hidden, cfg.Special()
		grid := cfg.ImageSize / cfg.PatchSize
		if len(last) < T*D || grid*grid != T-S {
			return nil, fmt.Errorf("hidden state of %d values, want %d tokens of %d with a %d×%d patch grid", len(last), T, D, grid, grid)
		}
		v := make([]float32, grid*grid)
		var sum float64
		for p := range v {
			var s float64
			for _, x := range last[(S+p)*D : (S+p+1)*D] {
				s += float64(x) * float64(x)
			}
			v[p] = float32(math.Sqrt(s))
			sum += math.Sqrt(s)
		}
		if sum > 0 {
			for p := range v {
				v[p] = float32(float64(v[p]) / sum)
			}
		}
		return &heatMap{Grid: grid, V: v, Name: "last-layer token norm"}, nil
	},
}
