package deit

import (
	"fmt"
	"math"

	"github.com/vkdeit/vkdeit/loader/imageio"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// CropPct is timm's default ratio of the center crop to the resized image
// (DeiT's 224 of 256): what a checkpoint without preprocessor_config.json
// is assumed to have been trained with.
const CropPct = 0.875

// DefaultPreprocessor is the preprocessing of a checkpoint that has no
// preprocessor_config.json, for c's image size: DeiT's
// (imageio.DefaultPreprocessor: bicubic resize, center crop, ImageNet mean
// and std) with the resize at ⌊ImageSize / CropPct⌋ as timm derives it —
// 256 for 224, 438 for 384, 36 for 32 — so a model of any size gets
// images of its size.
func (c Config) DefaultPreprocessor() *imageio.Preprocessor {
	p := imageio.DefaultPreprocessor()
	if c.ImageSize <= 0 {
		return p
	}
	resize := int(math.Floor(float64(c.ImageSize) / CropPct))
	p.Height, p.Width = resize, resize
	p.CropH, p.CropW = c.ImageSize, c.ImageSize
	return p
}

// defaultPreprocessorNote says, for Model.Notes, what DefaultPreprocessor
// assumed.
func (c Config) defaultPreprocessorNote() string {
	p := c.DefaultPreprocessor()
	return fmt.Sprintf("no %s: images are resized to %d×%d (bicubic) and center-cropped to %d×%d, "+
		"timm's crop_pct %g for the model's image size %d, and normalized with ImageNet's mean and std",
		modeldir.PreprocessorFile, p.Width, p.Height, p.CropW, p.CropH, CropPct, c.ImageSize)
}
