package imageio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// Preprocessor turns an RGB image into model input the way Hugging Face's
// (slow, PIL-based) DeiT/ViT image processors do: resize, center crop, rescale
// and normalize, then CHW float32. The fields mirror preprocessor_config.json.
type Preprocessor struct {
	// DoResize enables the resize to Height×Width, or, when ShortestEdge > 0,
	// of the shorter side to ShortestEdge keeping the aspect ratio.
	DoResize      bool
	Height, Width int
	ShortestEdge  int
	Resample      int // PIL filter code: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming
	DoCenterCrop  bool
	CropH, CropW  int
	DoRescale     bool
	RescaleFactor float64
	DoNormalize   bool
	Mean, Std     [3]float32
}

// ImageNet statistics (timm's IMAGENET_DEFAULT_MEAN/STD), which the DeiT hub
// configs use, and the 0.5 "standard" ones of ViT-style configs.
var (
	imagenetMean   = [3]float32{0.485, 0.456, 0.406}
	imagenetStd    = [3]float32{0.229, 0.224, 0.225}
	standardMean   = [3]float32{0.5, 0.5, 0.5}
	standardStd    = [3]float32{0.5, 0.5, 0.5}
	defaultRescale = 1.0 / 255
)

// DefaultPreprocessor returns the preprocessing of the facebook/deit-* hub
// checkpoints (preprocessor_config.json of deit-small-distilled-patch16-224):
// bicubic resize to 256×256, center crop 224×224, ×1/255, ImageNet mean/std.
func DefaultPreprocessor() *Preprocessor {
	return &Preprocessor{
		DoResize: true, Height: 256, Width: 256, Resample: ResampleBicubic,
		DoCenterCrop: true, CropH: 224, CropW: 224,
		DoRescale: true, RescaleFactor: defaultRescale,
		DoNormalize: true, Mean: imagenetMean, Std: imagenetStd,
	}
}

// vitPreprocessor is ViTImageProcessor's defaults: bilinear 224×224, no crop,
// mean/std 0.5.
func vitPreprocessor() *Preprocessor {
	return &Preprocessor{
		DoResize: true, Height: 224, Width: 224, Resample: ResampleBilinear,
		DoRescale: true, RescaleFactor: defaultRescale,
		DoNormalize: true, Mean: standardMean, Std: standardStd,
	}
}

// rawPreprocessor is preprocessor_config.json; pointers tell absent keys apart.
type rawPreprocessor struct {
	ImageProcessorType   string          `json:"image_processor_type"`
	FeatureExtractorType string          `json:"feature_extractor_type"`
	DoResize             *bool           `json:"do_resize"`
	Size                 json.RawMessage `json:"size"`
	Resample             *int            `json:"resample"`
	DoCenterCrop         *bool           `json:"do_center_crop"`
	CropSize             json.RawMessage `json:"crop_size"`
	DoRescale            *bool           `json:"do_rescale"`
	RescaleFactor        *float64        `json:"rescale_factor"`
	DoNormalize          *bool           `json:"do_normalize"`
	ImageMean            json.RawMessage `json:"image_mean"`
	ImageStd             json.RawMessage `json:"image_std"`
}

// sizeSpec is a parsed "size"/"crop_size" value (HF get_size_dict).
type sizeSpec struct{ h, w, shortest int }

// parseSize accepts an int (square, default_to_square), a [height, width] list,
// or a dict with height+width or shortest_edge.
func parseSize(raw json.RawMessage) (sizeSpec, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return sizeSpec{h: n, w: n}, nil
	}
	var list []int
	if err := json.Unmarshal(raw, &list); err == nil {
		switch len(list) {
		case 1:
			return sizeSpec{h: list[0], w: list[0]}, nil
		case 2:
			return sizeSpec{h: list[0], w: list[1]}, nil
		}
		return sizeSpec{}, fmt.Errorf("size list %s has %d elements, want 1 or 2", raw, len(list))
	}
	var d map[string]*int
	if err := json.Unmarshal(raw, &d); err != nil {
		return sizeSpec{}, fmt.Errorf("size %s is not an int, list or dict", raw)
	}
	get := func(k string) int {
		if v := d[k]; v != nil {
			return *v
		}
		return 0
	}
	switch {
	case d["height"] != nil && d["width"] != nil:
		return sizeSpec{h: get("height"), w: get("width")}, nil
	case d["shortest_edge"] != nil:
		if d["longest_edge"] != nil {
			return sizeSpec{}, fmt.Errorf("size %s: longest_edge is not supported", raw)
		}
		return sizeSpec{shortest: get("shortest_edge")}, nil
	}
	return sizeSpec{}, fmt.Errorf("size %s needs height and width, or shortest_edge", raw)
}

// parseTriple reads image_mean/image_std: a list of 3 numbers or one number
// (applied to every channel).
func parseTriple(raw json.RawMessage) ([3]float32, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return [3]float32{float32(f), float32(f), float32(f)}, nil
	}
	var l []float64
	if err := json.Unmarshal(raw, &l); err != nil || (len(l) != 3 && len(l) != 1) {
		return [3]float32{}, fmt.Errorf("%s is not a number or a list of 3 numbers", raw)
	}
	if len(l) == 1 {
		l = []float64{l[0], l[0], l[0]}
	}
	return [3]float32{float32(l[0]), float32(l[1]), float32(l[2])}, nil
}

// ReadPreprocessor reads a Hugging Face preprocessor_config.json. A missing
// file gives DefaultPreprocessor(). Missing keys take the defaults of the
// processor class the file names: ViT ("ViTImageProcessor",
// "ViTFeatureExtractor": bilinear 224, no crop, mean/std 0.5) or otherwise DeiT
// (DefaultPreprocessor's values; note that transformers' DeiTImageProcessor
// class itself defaults to mean/std 0.5, which no hub config relies on).
// Both the current keys and the legacy feature-extractor ones (size as an int,
// no do_rescale) are understood. "size": {"shortest_edge": N} keeps the aspect
// ratio as HF's get_resize_output_image_size(default_to_square=False) does
// (transformers' DeiTImageProcessor itself rejects it).
func ReadPreprocessor(path string) (*Preprocessor, error) {
	data, err := readPreprocessorFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultPreprocessor(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	p, err := parsePreprocessor(data)
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: %w", path, err)
	}
	return p, nil
}

// maxPreprocessorBytes bounds preprocessor_config.json (real ones are a
// few hundred bytes).
const maxPreprocessorBytes = 1 << 20

// readPreprocessorFile reads path, which must be a regular file (a FIFO
// would block the open, a device never end) of at most
// maxPreprocessorBytes.
func readPreprocessorFile(path string) ([]byte, error) {
	return regfile.ReadFile(path, maxPreprocessorBytes)
}

func parsePreprocessor(data []byte) (*Preprocessor, error) {
	// null would unmarshal into the defaults, as if the file were absent
	// (a list or a number fails obscurely): a preprocessor config is an object.
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var r rawPreprocessor
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	kind := r.ImageProcessorType
	if kind == "" {
		kind = r.FeatureExtractorType
	}
	p := DefaultPreprocessor()
	if strings.HasPrefix(kind, "ViT") {
		p = vitPreprocessor()
	}
	if r.DoResize != nil {
		p.DoResize = *r.DoResize
	}
	if len(r.Size) > 0 && string(r.Size) != "null" {
		s, err := parseSize(r.Size)
		if err != nil {
			return nil, err
		}
		p.Height, p.Width, p.ShortestEdge = s.h, s.w, s.shortest
	}
	if r.Resample != nil {
		p.Resample = *r.Resample
	}
	if r.DoCenterCrop != nil {
		p.DoCenterCrop = *r.DoCenterCrop
	}
	if len(r.CropSize) > 0 && string(r.CropSize) != "null" {
		s, err := parseSize(r.CropSize)
		if err != nil {
			return nil, fmt.Errorf("crop_size: %w", err)
		}
		if s.shortest > 0 {
			return nil, fmt.Errorf("crop_size %s needs height and width", r.CropSize)
		}
		p.CropH, p.CropW = s.h, s.w
	}
	if r.DoRescale != nil {
		p.DoRescale = *r.DoRescale
	}
	if r.RescaleFactor != nil {
		p.RescaleFactor = *r.RescaleFactor
	}
	if r.DoNormalize != nil {
		p.DoNormalize = *r.DoNormalize
	}
	if len(r.ImageMean) > 0 && string(r.ImageMean) != "null" {
		m, err := parseTriple(r.ImageMean)
		if err != nil {
			return nil, fmt.Errorf("image_mean: %w", err)
		}
		p.Mean = m
	}
	if len(r.ImageStd) > 0 && string(r.ImageStd) != "null" {
		s, err := parseTriple(r.ImageStd)
		if err != nil {
			return nil, fmt.Errorf("image_std: %w", err)
		}
		p.Std = s
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// validate rejects settings Apply cannot honour.
func (p *Preprocessor) validate() error {
	if p.DoResize {
		if p.ShortestEdge < 0 || (p.ShortestEdge == 0 && (p.Height <= 0 || p.Width <= 0)) {
			return fmt.Errorf("resize size %dx%d (shortest edge %d) is not positive", p.Height, p.Width, p.ShortestEdge)
		}
		if p.Resample < ResampleNearest || p.Resample > ResampleHamming {
			return fmt.Errorf("resample %d is not a PIL filter (0..5)", p.Resample)
		}
		if p.ShortestEdge > maxResizePixels || (p.ShortestEdge == 0 && tooManyPixels(p.Width, p.Height)) {
			return fmt.Errorf("resize size %dx%d (shortest edge %d) exceeds the %d-pixel image limit", p.Height, p.Width, p.ShortestEdge, maxResizePixels)
		}
	}
	if p.DoCenterCrop && (p.CropH <= 0 || p.CropW <= 0) {
		return fmt.Errorf("crop size %dx%d is not positive", p.CropH, p.CropW)
	}
	if p.DoCenterCrop && tooManyPixels(p.CropW, p.CropH) {
		return fmt.Errorf("crop size %dx%d exceeds the %d-pixel image limit", p.CropH, p.CropW, maxResizePixels)
	}
	if p.DoRescale && !(p.RescaleFactor > 0 && p.RescaleFactor <= math.MaxFloat32) {
		return fmt.Errorf("rescale_factor %g: want a positive finite number", p.RescaleFactor)
	}
	if p.DoNormalize {
		for c := range 3 {
			m, s := p.Mean[c], p.Std[c]
			switch {
			case s == 0:
				return fmt.Errorf("image_std[%d] is 0", c)
			case !(s >= minNormalFloat32 && s <= math.MaxFloat32):
				return fmt.Errorf("image_std[%d] is %g: want a positive, finite, normal float32", c, s)
			case !(m >= -math.MaxFloat32 && m <= math.MaxFloat32):
				return fmt.Errorf("image_mean[%d] is %g: want a finite number", c, m)
			}
		}
	}
	// The settings above can still combine into values no model was trained
	// on (a huge rescale_factor, a tiny std): every byte value of every
	// channel must map to a finite input of sane size.
	lut := p.lookupTable()
	for c := range 3 {
		for v, x := range lut[c] {
			if !(x >= -maxPixelMagnitude && x <= maxPixelMagnitude) {
				return fmt.Errorf("channel %d byte value %d becomes %g (rescale_factor %g, image_mean %g, image_std %g): "+
					"want a finite input within ±%g", c, v, x, p.RescaleFactor, p.Mean[c], p.Std[c], float32(maxPixelMagnitude))
			}
		}
	}
	return nil
}

// maxResizePixels bounds what a hostile preprocessor_config.json can make
// Apply allocate: Pillow's DecompressionBombError threshold.
const maxResizePixels = DefaultMaxPixels

// minNormalFloat32 is the smallest positive normal float32 (2^-126); a
// subnormal std loses precision and overflows at once.
const minNormalFloat32 = 0x1p-126

// maxPixelMagnitude bounds the model inputs a preprocessing may produce: the
// largest half-precision value, so that an fp16 engine holds every input
// exactly as a float32 one does. Hub configs stay within ±3 (±600 even with
// rescaling switched off).
const maxPixelMagnitude = 65504

// tooManyPixels reports whether a w×h image (w, h > 0) would exceed
// maxResizePixels.
func tooManyPixels(w, h int) bool {
	return w > maxResizePixels || h > maxResizePixels || int64(w)*int64(h) > maxResizePixels
}

// OutputSize returns the height and width of the tensor Apply produces for an
// image of w×h pixels.
func (p *Preprocessor) OutputSize(w, h int) (outH, outW int) {
	outH, outW = h, w
	if p.DoResize {
		outW, outH = p.resizeSize(w, h)
	}
	if p.DoCenterCrop {
		outH, outW = p.CropH, p.CropW
	}
	return outH, outW
}

// resizeSize is HF's get_resize_output_image_size: a fixed height×width, or
// the shorter side set to ShortestEdge and the longer one
// int(ShortestEdge·long/short) (truncated).
func (p *Preprocessor) resizeSize(w, h int) (int, int) {
	if p.ShortestEdge <= 0 {
		return p.Width, p.Height
	}
	s := p.ShortestEdge
	if w <= h {
		return s, int(float64(s*h) / float64(w))
	}
	return int(float64(s*w) / float64(h)), s
}

// Apply preprocesses img and returns a CHW float32 tensor [3, H, W] (H×W =
// the crop size when cropping). Each step reproduces HF's slow image processor
// exactly: PIL resize (uint8), center crop with floor offsets (zero padding
// with HF's offsets when the image is smaller), rescale in float64 then cast to
// float32, and (x − mean)/std in float32.
func (p *Preprocessor) Apply(img *Image) ([]float32, error) {
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return nil, errors.New("imageio: preprocess: empty or malformed image")
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("imageio: preprocess: %w", err)
	}
	if p.DoResize {
		w, h := p.resizeSize(img.W, img.H)
		if tooManyPixels(w, h) {
			return nil, fmt.Errorf("imageio: preprocess: resizing %dx%d to %dx%d exceeds the %d-pixel image limit", img.W, img.H, w, h, maxResizePixels)
		}
		if w != img.W || h != img.H {
			img = Resize(img, w, h, p.Resample)
		}
	}
	x0, y0, outW, outH := 0, 0, img.W, img.H
	if p.DoCenterCrop {
		x0, y0, outW, outH = cropWindow(img.W, img.H, p.CropW, p.CropH)
	}
	lut := p.lookupTable()
	plane := outW * outH
	out := make([]float32, 3*plane)
	parallelRows(outH, func(r0, r1 int) {
		for y := r0; y < r1; y++ {
			sy := y + y0
			for x := 0; x < outW; x++ {
				sx := x + x0
				var px [3]uint8 // zero padding outside the image
				if sx >= 0 && sx < img.W && sy >= 0 && sy < img.H {
					i := (sy*img.W + sx) * 3
					px = [3]uint8{img.Pix[i], img.Pix[i+1], img.Pix[i+2]}
				}
				for c := 0; c < 3; c++ {
					out[c*plane+y*outW+x] = lut[c][px[c]]
				}
			}
		}
	})
	return out, nil
}

// cropWindow is HF's center_crop on an h×w image: the crop's top-left corner in
// image coordinates (negative when padding). HF pads a smaller image to
// max(size, crop) with the original at offset ceil(diff/2), then crops at
// floor((padded − crop)/2).
func cropWindow(w, h, cw, ch int) (x0, y0, outW, outH int) {
	axis := func(in, crop int) int {
		pad := max(crop, in)
		off := (pad - in + 1) / 2 // ceil((pad-in)/2), where the image lands
		return (pad-crop)/2 - off
	}
	return axis(w, cw), axis(h, ch), cw, ch
}

// lookupTable precomputes rescale+normalize for every (channel, byte) pair:
// both steps depend on nothing else, and the table reproduces HF's float
// arithmetic exactly.
func (p *Preprocessor) lookupTable() *[3][256]float32 {
	var t [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			x := float32(v)
			if p.DoRescale {
				// numpy: image.astype(float64) * scale, then .astype(float32)
				x = float32(float64(v) * p.RescaleFactor)
			}
			if p.DoNormalize {
				// numpy float32: (x - mean) / std, each op rounded to float32
				x = float32(float32(x-p.Mean[c]) / p.Std[c])
			}
			t[c][v] = x
		}
	}
	return &t
}
