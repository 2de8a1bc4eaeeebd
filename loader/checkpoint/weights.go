package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Read reads every tensor of a checkpoint file, whatever its format,
// converted to float32. The format is sniffed from the content, not the
// name: a zip archive is a PyTorch zip checkpoint (pytorch_model.bin, .pth),
// a pickle stream is a legacy PyTorch checkpoint, and a file starting with
// a plausible 8-byte header length followed by '{' is safetensors. Facebook
// and training checkpoints that keep the state dict under "model" (and
// "state_dict") are unwrapped, see ReadTorch.
func Read(path string) (map[string]*Tensor, error) {
	src, err := openWeightsSource(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	defer src.Close()
	var ts map[string]*Tensor
	switch weightsSniff(src) {
	case "safetensors":
		ts, err = safetensorsRead(src)
	case "torch":
		ts, err = torchRead(src)
	default:
		err = errors.New("unrecognized weights format (want safetensors or a PyTorch checkpoint)")
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	return ts, nil
}

// weightsSniff names the format of src: "safetensors", "torch" or "".
func weightsSniff(src *weightsSource) string {
	head, err := src.bytes(0, min(src.size, 512))
	if err != nil || len(head) < 2 {
		return ""
	}
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), head[0] == opProto:
		return "torch"
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return "torch" // legacy tar checkpoint: torchRead explains why it is refused
	case len(head) >= 9 && head[8] == '{' && binary.LittleEndian.Uint64(head) <= uint64(src.size):
		return "safetensors"
	}
	return ""
}
