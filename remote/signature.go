package remote

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The tensor names and datatypes of the Open Inference Protocol that the
// client looks for.
const (
	// inputImage is vkdeit's encoded-image input: BYTES [B], one image file
	// per element, preprocessed by the server.
	inputImage = "image"

	outputLogits        = "logits"
	outputEmbedding     = "embedding"
	outputDistEmbedding = "distillation_embedding"

	typeFP32  = "FP32"
	typeBytes = "BYTES"
)

// Input kinds for Options.Input.
const (
	InputAuto   = ""       // encoded images where the server takes them, else pixels
	InputImage  = "image"  // encoded image files: BYTES [B] input "image"
	InputPixels = "pixels" // preprocessed here: FP32 [B, 3, H, W]
)

// tensorMeta is one tensor of a model's metadata.
type tensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (t tensorMeta) String() string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("%s %s [%s]", t.Name, t.Datatype, strings.Join(dims, ", "))
}

// modelMeta is what an endpoint says about its model.
type modelMeta struct {
	Name     string
	Platform string
	Inputs   []tensorMeta
	Outputs  []tensorMeta
}

// Signature is what the client learned of the served model from its
// metadata: the input it sends and the outputs it reads.
type Signature struct {
	// Model is the model's name on the servers, Platform what its
	// metadata says runs it ("vkdeit", "onnxruntime_onnx", ...).
	Model, Platform string
	// Input is the input tensor's name. Encoded: it takes encoded image
	// files (BYTES [B]); otherwise FP32 pixels [B, Channels, Size, Size]
	// (or [Channels, Size, Size] when the model has no batch dimension),
	// preprocessed by the client.
	Input    string
	Encoded  bool
	Channels int
	Size     int
	// batched: the input's first dimension is the batch.
	batched bool
	// Logits is the output read for rankings ("" when the model has none)
	// and NumLabels its width (0 when the metadata leaves it open).
	Logits    string
	NumLabels int
	// Embedding and DistillationEmbedding are the embedding outputs (""
	// when absent) and Hidden their width.
	Embedding, DistillationEmbedding string
	Hidden                           int
}

func (s *Signature) String() string {
	in := fmt.Sprintf("%s FP32 [%d, %d, %d]", s.Input, s.Channels, s.Size, s.Size)
	if s.Encoded {
		in = s.Input + " BYTES"
	}
	return fmt.Sprintf("model %q, input %s, %d labels", s.Model, in, s.NumLabels)
}

// same reports whether two endpoints serve interchangeable models.
func (s *Signature) same(o *Signature) bool {
	return *s == *o
}

// signatureOf picks the tensors the client uses from a model's metadata,
// with the input kind asked for (InputAuto: encoded images when the model
// has vkdeit's BYTES "image" input, else FP32 pixels):
//
//   - encoded images: a BYTES input named "image" of shape [-1];
//   - pixels: an FP32 input of shape [-1 or 1, 3, H, H] or [3, H, H];
//   - rankings read the output named "logits", else the model's only FP32
//     output; embeddings the outputs "embedding" and
//     "distillation_embedding".
func signatureOf(md modelMeta) (*Signature, error) {
	return signatureFor(md, InputAuto)
}

func signatureFor(md modelMeta, kind string) (*Signature, error) {
	s := &Signature{Model: md.Name, Platform: md.Platform}
	var pixels, image *tensorMeta
	for i := range md.Inputs {
		t := &md.Inputs[i]
		switch {
		case t.Name == inputImage && t.Datatype == typeBytes && len(t.Shape) == 1 && t.Shape[0] <= 0:
			image = t
		case pixels == nil && t.Datatype == typeFP32 && pixelShape(t.Shape):
			pixels = t
		}
	}
	switch {
	case image != nil && kind != InputPixels:
		s.Input, s.Encoded, s.batched = image.Name, true, true
	case pixels != nil && kind != InputImage:
		sh := pixels.Shape
		s.batched = len(sh) == 4
		if s.batched {
			sh = sh[1:]
		}
		s.Input, s.Channels, s.Size = pixels.Name, int(sh[0]), int(sh[1])
	default:
		want := `an FP32 input [-1, 3, H, H] (preprocessed pixels) or a BYTES input "image" [-1] (encoded images)`
		switch kind {
		case InputImage:
			want = `a BYTES input "image" [-1] (encoded images)`
		case InputPixels:
			want = `an FP32 input [-1, 3, H, H] (preprocessed pixels)`
		}
		return nil, fmt.Errorf("model %q has no input vkdeit can send: it wants %s, the model has %s", md.Name, want, listTensors(md.Inputs))
	}
	var fp32 []tensorMeta
	for _, t := range md.Outputs {
		if t.Datatype != typeFP32 {
			continue
		}
		fp32 = append(fp32, t)
		w := lastDim(t.Shape)
		switch t.Name {
		case outputLogits:
			s.Logits, s.NumLabels = t.Name, w
		case outputEmbedding:
			s.Embedding, s.Hidden = t.Name, w
		case outputDistEmbedding:
			s.DistillationEmbedding = t.Name
		}
	}
	if s.Logits == "" && len(fp32) == 1 && s.Embedding == "" {
		s.Logits, s.NumLabels = fp32[0].Name, lastDim(fp32[0].Shape)
	}
	if s.Logits == "" && s.Embedding == "" {
		return nil, fmt.Errorf("model %q has no FP32 output named %s or %s, nor a single FP32 output; it has %s",
			md.Name, outputLogits, outputEmbedding, listTensors(md.Outputs))
	}
	return s, nil
}

// lastDim is a shape's last dimension, or 0 when it is open (-1) or
// there is none.
func lastDim(shape []int64) int {
	if len(shape) == 0 || shape[len(shape)-1] <= 0 {
		return 0
	}
	return int(shape[len(shape)-1])
}

// pixelShape reports whether shape is [-1 or 1, 3, H, H] or [3, H, H].
func pixelShape(shape []int64) bool {
	if len(shape) == 4 {
		if shape[0] != -1 && shape[0] != 1 {
			return false
		}
		shape = shape[1:]
	}
	return len(shape) == 3 && shape[0] == 3 && shape[1] > 0 && shape[1] == shape[2]
}

func listTensors(ts []tensorMeta) string {
	if len(ts) == 0 {
		return "none"
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// failKind says what a failed request means for the image and the endpoint.
type failKind int

const (
	// failImage: the server refused this image (400, INVALID_ARGUMENT):
	// the image's result is the error; no retry.
	failImage failKind = iota
	// failBusy: the server could not take it now (429, 500,
	// RESOURCE_EXHAUSTED, a timeout): retry after a backoff.
	failBusy
	// failDown: the endpoint is not there (connection error, 502–504,
	// UNAVAILABLE): it is marked down and the request goes elsewhere.
	failDown
	// failFatal: nothing will work (the model is unknown to the server,
	// the answer does not fit the model).
	failFatal
)

// failure is a request's error with its kind.
type failure struct {
	kind failKind
	err  error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// kindOf is err's failKind; errors without one are connection errors.
func kindOf(err error) failKind {
	var f *failure
	if errors.As(err, &f) {
		return f.kind
	}
	return failDown
}

// wantOutputs are the outputs to ask for: the logits when the model has
// them, and the embeddings when asked for.
func (s *Signature) wantOutputs(embeddings bool) []string {
	var out []string
	if s.Logits != "" {
		out = append(out, s.Logits)
	}
	if embeddings {
		out = append(out, s.Embedding)
		if s.DistillationEmbedding != "" {
			out = append(out, s.DistillationEmbedding)
		}
	}
	return slices.Clip(out)
}
