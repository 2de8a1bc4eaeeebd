package server

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
)

// The model's tensors, as named in metadata and requests.
const (
	// inputPixels is FP32 [B, C, H, W]: preprocessed images, as Hugging
	// Face's image processor makes them.
	inputPixels = "pixel_values"
	// inputImage is BYTES [B]: encoded image files (JPEG, PNG, ...),
	// preprocessed by the server as `vkdeit classify` does.
	inputImage = "image"

	outputLogits        = "logits"                 // FP32 [B, NumLabels]
	outputProbabilities = "probabilities"          // FP32 [B, NumLabels], softmax of the logits
	outputEmbedding     = "embedding"              // FP32 [B, Hidden], the final-LayerNorm [CLS] row
	outputDistEmbedding = "distillation_embedding" // FP32 [B, Hidden], the [DIST] row (distilled models)
)

// Datatypes used here.
const (
	typeFP32  = "FP32"
	typeBytes = "BYTES"
)

// knownDatatypes are the protocol's datatypes, to tell a wrong one from a
// misspelled one in errors.
var knownDatatypes = []string{"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64", "BYTES"}

// request is one inference request, decoded from either protocol.
type request struct {
	id     string
	n      int       // images
	pixels []float32 // n preprocessed images, for pixel_values
	images [][]byte  // n encoded images, for image
	// outputs are the outputs asked for, in the client's order (default:
	// logits alone).
	outputs []string
	// classes is, per output, the classification extension's K: the
	// output comes back as its K highest values, BYTES "value:index:label"
	// (0: the tensor itself).
	classes []int
}

// wantsEmbeddings reports whether any requested output needs the
// embeddings tap.
func (r *request) wantsEmbeddings() bool {
	return slices.Contains(r.outputs, outputEmbedding) || slices.Contains(r.outputs, outputDistEmbedding)
}

// taps are the engine taps the request's outputs need besides the logits.
func (r *request) taps() deit.Tap {
	var t deit.Tap
	if r.wantsEmbeddings() {
		t |= deit.TapEmbeddings
	}
	if r.wantsAttention() {
		t |= deit.TapAttention
	}
	return t
}

// tensor is one output: FP32 data of the given shape, or (for the
// classification extension) BYTES elements.
type tensor struct {
	name  string
	shape []int64
	data  []float32
	bytes [][]byte
}

// datatype is the tensor's datatype.
func (t tensor) datatype() string {
	if t.bytes != nil {
		return typeBytes
	}
	return typeFP32
}

// paramClassification is the classification extension's output parameter.
const paramClassification = "classification"

// inputShape checks an input's name, datatype and shape against the model
// and returns its image count.
func (md *model) inputShape(name, datatype string, shape []int64) (int, error) {
	c := md.cfg
	switch name {
	case inputPixels:
		if err := wantType(name, datatype, typeFP32); err != nil {
			return 0, err
		}
		if len(shape) != 4 || shape[1] != int64(c.Channels) || shape[2] != int64(c.ImageSize) || shape[3] != int64(c.ImageSize) {
			return 0, errorf(kindBadRequest, "input %s has shape %s; the model takes [B, %d, %d, %d]",
				name, shapeString(shape), c.Channels, c.ImageSize, c.ImageSize)
		}
	case inputImage:
		if err := wantType(name, datatype, typeBytes); err != nil {
			return 0, err
		}
		// [B, 1] is how Triton's clients shape a batch of strings (its
		// model configuration says dims [1]).
		if len(shape) != 1 && !(len(shape) == 2 && shape[1] == 1) {
			return 0, errorf(kindBadRequest, "input %s has shape %s; it takes [B] (or [B, 1]), one encoded image file per element", name, shapeString(shape))
		}
	case "":
		return 0, errorf(kindBadRequest, "an input has no name; the model takes %s (FP32 [B, %d, %d, %d]) or %s (BYTES [B])",
			inputPixels, c.Channels, c.ImageSize, c.ImageSize, inputImage)
	default:
		return 0, errorf(kindBadRequest, "unknown input %s; the model takes %s (FP32 [B, %d, %d, %d]) or %s (BYTES [B])",
			quote(name), inputPixels, c.Channels, c.ImageSize, c.ImageSize, inputImage)
	}
	b := shape[0]
	switch {
	case b < 1:
		return 0, errorf(kindBadRequest, "input %s has shape %s: the batch dimension must be at least 1", name, shapeString(shape))
	case b > int64(md.maxQueue):
		return 0, errorf(kindTooLarge, "input %s holds %d images, more than the server queues at once (%d)", name, b, md.maxQueue)
	}
	return int(b), nil
}

// wantType reports a datatype other than want.
func wantType(name, got, want string) error {
	if got == want {
		return nil
	}
	if !slices.Contains(knownDatatypes, got) {
		return errorf(kindBadRequest, "input %s has unknown datatype %s; it takes %s", name, quote(got), want)
	}
	return errorf(kindBadRequest, "input %s has datatype %s; it takes %s", name, got, want)
}

// shapeString writes a shape as "[2, 3, 224, 224]"; one of more than
// maxShownDims dimensions (a client's, in an error) is cut to its first
// ones and its length.
func shapeString(shape []int64) string {
	parts := make([]string, 0, min(len(shape), maxShownDims+1))
	for i, d := range shape {
		if i == maxShownDims {
			parts = append(parts, fmt.Sprintf("… (%d dimensions)", len(shape)))
			break
		}
		parts = append(parts, fmt.Sprint(d))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// maxShownDims is how many dimensions shapeString writes.
const maxShownDims = 8

// checkOutputs validates requested output names (empty: logits alone).
func (md *model) checkOutputs(names []string) ([]string, error) {
	if len(names) == 0 {
		return []string{outputLogits}, nil
	}
	known := md.outputNames()
	for i, n := range names {
		if !slices.Contains(known, n) {
			return nil, errorf(kindBadRequest, "unknown output %s; the model has %s", quote(n), strings.Join(known, ", "))
		}
		if slices.Contains(names[:i], n) {
			return nil, errorf(kindBadRequest, "output %s is asked for twice", quote(n))
		}
	}
	return names, nil
}

// outputNames are the outputs this model offers.
func (md *model) outputNames() []string {
	out := []string{outputLogits, outputProbabilities, outputEmbedding}
	if md.cfg.HeadTokens() > 1 {
		out = append(out, outputDistEmbedding)
	}
	return append(out, outputAttention)
}

// outputs builds the requested output tensors from the request's results.
func (md *model) outputs(req *request, res results) []tensor {
	logits, emb := res.logits, res.emb
	n, L, D, H := req.n, md.cfg.NumLabels, md.cfg.Hidden, md.cfg.HeadTokens()
	out := make([]tensor, 0, len(req.outputs))
	for _, name := range req.outputs {
		t := tensor{name: name, shape: []int64{int64(n), int64(L)}}
		switch name {
		case outputLogits:
			t.data = logits
		case outputProbabilities:
			t.data = make([]float32, len(logits))
			for i := range n {
				classify.Softmax(t.data[i*L:(i+1)*L], logits[i*L:(i+1)*L])
			}
		case outputEmbedding, outputDistEmbedding:
			tok := 0
			if name == outputDistEmbedding {
				tok = 1
			}
			t.shape[1] = int64(D)
			t.data = make([]float32, n*D)
			for i := range n {
				copy(t.data[i*D:(i+1)*D], emb[(i*H+tok)*D:(i*H+tok+1)*D])
			}
		case outputAttention:
			t = attentionTensor(md.cfg, res.att, n)
		}
		if k := req.classK(len(out)); k > 0 {
			t = md.classification(t, k)
		}
		out = append(out, t)
	}
	return out
}

// classK is output i's classification K (0: none).
func (r *request) classK(i int) int {
	if i < len(r.classes) {
		return r.classes[i]
	}
	return 0
}

// classification turns an FP32 [n, W] output into Triton's classification
// form: BYTES [n, min(k, W)], each row's highest values first (ties to the
// lower index), each element "value:index:label" with the value as C's %f
// writes it; outputs over the classes (logits, probabilities) carry the
// label, the others "value:index".
func (md *model) classification(t tensor, k int) tensor {
	n, w := int(t.shape[0]), int(t.shape[1])
	k = min(k, w)
	var labels []string
	if w == md.cfg.NumLabels && (t.name == outputLogits || t.name == outputProbabilities) {
		labels = md.cfg.Labels
	}
	out := tensor{name: t.name, shape: []int64{int64(n), int64(k)}, bytes: make([][]byte, 0, n*k)}
	for i := range n {
		top, err := classify.TopK(t.data[i*w:(i+1)*w], k, labels)
		if err != nil { // the batcher lets no non-finite value through
			panic(fmt.Sprintf("server: classification of checked output %s: %v", t.name, err))
		}
		for _, p := range top {
			e := strconv.AppendFloat(nil, float64(p.Logit), 'f', 6, 32)
			e = append(e, ':')
			e = strconv.AppendInt(e, int64(p.Index), 10)
			if labels != nil {
				e = append(e, ':')
				e = append(e, p.Label...)
			}
			out.bytes = append(out.bytes, e)
		}
	}
	return out
}

// appendBytesElems appends BYTES elements in the protocol's binary layout
// (see splitBytes).
func appendBytesElems(dst []byte, elems [][]byte) []byte {
	for _, e := range elems {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(e)))
		dst = append(dst, e...)
	}
	return dst
}

// decodeFP32 reads n little-endian float32 values, charging them to c
// (nil: to nothing).
func decodeFP32(name string, raw []byte, n int, c *claim) ([]float32, error) {
	if len(raw) != 4*n {
		return nil, errorf(kindBadRequest, "input %s: %d bytes of FP32 data for %d values (want %d bytes)", name, len(raw), n, 4*n)
	}
	if c != nil {
		if err := c.grow(4 * int64(n)); err != nil {
			return nil, err
		}
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// appendFP32 appends v as little-endian float32 values.
func appendFP32(dst []byte, v []float32) []byte {
	dst = slices.Grow(dst, 4*len(v))
	for _, f := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return dst
}

// splitBytes reads n BYTES elements in the protocol's binary layout: each
// a 4-byte little-endian length followed by that many bytes. The elements
// alias raw.
func splitBytes(name string, raw []byte, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	for len(raw) > 0 {
		if len(raw) < 4 {
			return nil, errorf(kindBadRequest, "input %s: BYTES data ends inside an element's 4-byte length", name)
		}
		l := binary.LittleEndian.Uint32(raw)
		raw = raw[4:]
		if uint64(l) > uint64(len(raw)) {
			return nil, errorf(kindBadRequest, "input %s: BYTES element %d claims %d bytes but %d remain", name, len(out), l, len(raw))
		}
		if len(out) == n {
			return nil, errorf(kindBadRequest, "input %s: more than the %d BYTES elements its shape says", name, n)
		}
		out = append(out, raw[:l:l])
		raw = raw[l:]
	}
	if len(out) != n {
		return nil, errorf(kindBadRequest, "input %s: %d BYTES elements for shape [%d]", name, len(out), n)
	}
	return out, nil
}

// checkFinite refuses pixels holding a NaN or an infinity, naming the
// first: the engines refuse them too, but only for a whole batch, which
// holds other clients' images.
func (md *model) checkFinite(name string, pixels []float32) error {
	i := firstNonFinite(pixels)
	if i < 0 {
		return nil
	}
	per := md.pixelCount(1)
	return errorf(kindBadRequest, "input %s: value %d (image %d) is %v; pixel values must be finite", name, i, i/per, pixels[i])
}

// firstNonFinite is the index of the first NaN or ±Inf in v, or -1.
func firstNonFinite(v []float32) int {
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return i
		}
	}
	return -1
}

// pixelCount is the number of FP32 values of n images.
func (md *model) pixelCount(n int) int {
	return n * md.cfg.Channels * md.cfg.ImageSize * md.cfg.ImageSize
}

// maxOutputNames is the most outputs any model offers (outputNames of a
// distilled model): the limit of a request's outputs checked before the
// request is decoded (and its model known).
const maxOutputNames = 4
