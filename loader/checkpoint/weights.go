package checkpoint

import (
	"bytes"
	"encoding/binary"
)

// Read reads every tensor of a checkpoint file, whatever its format,
// converted to float32. The format is recognised from the content, not the
// name (see weightsSniff): safetensors, a PyTorch zip checkpoint
// (pytorch_model.bin, .pth) or a legacy PyTorch pickle-stream checkpoint.
// Facebook and training checkpoints that keep the state dict under "model"
// (and "state_dict") are unwrapped, see ReadTorch.
func Read(path string) (map[string]*Tensor, error) {
	return readPath(path, formatUnknown)
}

// weightsFormat is a container format recognised by weightsSniff.
type weightsFormat int

const (
	formatUnknown     weightsFormat = iota
	formatSafetensors               // 8-byte header length, then a JSON object
	formatTorchZip                  // zip archive (torch ≥ 1.6)
	formatTorchLegacy               // pickle stream opening with the torch magic number
	formatTorchTar                  // tar archive (torch < 0.4), refused with an explanation
	formatPickle                    // some other pickle stream: not a checkpoint

	// formatAnyTorch asks openFile for any torch container (ReadTorch).
	formatAnyTorch weightsFormat = -1
)

// weightsSniffLen is how many leading bytes weightsSniff looks at.
const weightsSniffLen = 512

// torchLegacyMagicLE is the LONG1 payload of torchLegacyMagic
// (0x1950a86a20f9469cfc6c), little-endian as pickle stores it.
var torchLegacyMagicLE = []byte{0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// weightsSniff recognises the format of src by the structure of its first
// bytes, never by a single byte:
//
//   - safetensors: a little-endian uint64 header length N with
//     2 ≤ N ≤ 100,000,000, followed by '{' (the header is a JSON object);
//   - PyTorch zip: the local-file signature "PK\x03\x04";
//   - legacy PyTorch: PROTO with protocol 2..5, an optional FRAME, then
//     LONG1 holding the torch magic number;
//   - tar: "ustar" at offset 257.
//
// The checks cannot confuse one format with another: in a safetensors file
// byte 8 is '{', which is no zip compression method (bytes 8-9 of a local
// header) and which never follows PROTO/FRAME/LONG1 in a legacy stream;
// the first byte of a safetensors file is the low byte of its header length
// (0x80 for every length ≡ 128 mod 256, the PROTO opcode), which is why the
// legacy check asks for the magic number rather than PROTO alone.
func weightsSniff(src *weightsSource) weightsFormat {
	head, err := src.bytes(0, min(src.size, weightsSniffLen))
	if err != nil {
		return formatUnknown
	}
	return sniffHead(head)
}

// sniffHead is weightsSniff on the first bytes of a file.
func sniffHead(head []byte) weightsFormat {
	switch {
	case len(head) >= 9 && head[8] == '{' && safetensorsLengthPlausible(binary.LittleEndian.Uint64(head)):
		return formatSafetensors
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return formatTorchZip
	case torchLegacyHead(head):
		return formatTorchLegacy
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return formatTorchTar
	case len(head) >= 2 && head[0] == opProto && head[1] >= 2 && head[1] <= 5:
		return formatPickle
	}
	return formatUnknown
}

// safetensorsLengthPlausible reports whether n can be a safetensors header
// length: room for at least "{}" and within the reference reader's limit.
// Whether it fits the file is checked when the header is read, so that a
// truncated file gets an error that says so.
func safetensorsLengthPlausible(n uint64) bool {
	return n >= 2 && n <= safetensorsMaxHeader
}

// torchLegacyHead reports whether head opens a legacy torch.save stream:
// PROTO 2..5, an optional FRAME (protocol 4 and later), then the magic
// number as LONG1.
func torchLegacyHead(head []byte) bool {
	if len(head) < 2 || head[0] != opProto || head[1] < 2 || head[1] > 5 {
		return false
	}
	rest := head[2:]
	if len(rest) > 0 && rest[0] == opFrame {
		if len(rest) < 9 {
			return false
		}
		rest = rest[9:]
	}
	return len(rest) >= 2+len(torchLegacyMagicLE) && rest[0] == opLong1 &&
		int(rest[1]) == len(torchLegacyMagicLE) && bytes.Equal(rest[2:2+len(torchLegacyMagicLE)], torchLegacyMagicLE)
}
