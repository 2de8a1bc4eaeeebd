package main

import (
	"context"
	"fmt"
	"image"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/explain"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// topK is how many classes the viewer lists.
const topK = 5

// classifier turns an image file into what the viewer shows: the model's
// input crop, the top-5 and the overlay's map.
type classifier struct {
	m   *deit.Model
	eng engine.Engine
}

func newClassifier(m *deit.Model, eng engine.Engine) *classifier {
	return &classifier{m: m, eng: eng}
}

// result is one file's classification, or why there is none.
type result struct {
	crop  *image.RGBA
	preds []classify.Prediction
	heat  *explain.Map // the [CLS] token's attention rollout
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
	crop, err := explain.InputCrop(img, c.m.Preprocessor)
	if err != nil {
		return result{}, err
	}
	out, err := c.eng.Run(ctx, pixels, 1, deit.TapAttention)
	if err != nil {
		return result{}, err
	}
	preds, err := classify.TopK(out.Logits, topK, c.m.Config.Labels) // refuses NaN and Inf logits
	if err != nil {
		return result{}, err
	}
	maps, err := explain.Maps(explain.Rollout, out.Attention, 0, c.m.Config)
	if err != nil {
		return result{}, fmt.Errorf("attention rollout: %w", err)
	}
	return result{crop: crop, preds: preds, heat: &maps[0]}, nil
}
