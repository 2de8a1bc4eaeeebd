package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
)

// WriteSafetensors writes ts to path as a safetensors file with F32 tensors,
// in the order given, with a {"format": "pt"} metadata entry and the header
// padded with spaces to a multiple of 8 bytes as the reference writer does.
// Names must be unique and non-empty and every len(Data) must equal the
// product of its Shape. It exists so tests and tools can make real files.
func WriteSafetensors(path string, ts []*Tensor) (err error) {
	hdr, err := safetensorsEncodeHeader(ts)
	if err != nil {
		return fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("checkpoint: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	var word [8]byte
	binary.LittleEndian.PutUint64(word[:], uint64(len(hdr)))
	w.Write(word[:])
	w.Write(hdr)
	for _, t := range ts {
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(word[:4], math.Float32bits(v))
			w.Write(word[:4])
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	return nil
}

// safetensorsEncodeHeader builds the padded JSON header for ts.
func safetensorsEncodeHeader(ts []*Tensor) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"__metadata__":{"format":"pt"}`)
	seen := make(map[string]bool, len(ts))
	var off int64
	for _, t := range ts {
		if t == nil || t.Name == "" {
			return nil, errors.New("safetensors: tensor with an empty name")
		}
		if seen[t.Name] || t.Name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: tensor %q: duplicate name", t.Name)
		}
		seen[t.Name] = true
		shape := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int64(d)
		}
		n, err := tensorNumel(shape)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		if n != int64(len(t.Data)) {
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v needs %d values, Data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		name, err := json.Marshal(t.Name)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		dims, _ := json.Marshal(shape)
		fmt.Fprintf(&buf, `,%s:{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}`, name, dims, off, off+4*n)
		off += 4 * n
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), nil
}
