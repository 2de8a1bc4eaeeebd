package checkpoint

import (
	"errors"
	"fmt"
	"slices"
)

// Info describes one tensor of a checkpoint as its index records it, before
// any value is read.
type Info struct {
	Name  string
	Shape []int // empty for a scalar
	// DType is the stored element type in safetensors spelling: "F32",
	// "F16", "BF16", "F64", "I64", "BOOL", …
	DType string
}

// Numel is the element count of the tensor, the product of its Shape.
func (in Info) Numel() int {
	n := 1
	for _, d := range in.Shape {
		n *= d
	}
	return n
}

// File is an open checkpoint whose index — the names, shapes and dtypes of
// its tensors — has been read and checked, while the tensor values are
// converted to float32 only when Read asks for them. A caller can so decide
// from names and shapes alone which tensors it needs, and a tensor it does not
// need costs neither memory nor time. The file stays mapped (or open) until
// Close. A File is not safe for concurrent use.
type File struct {
	path   string
	src    *weightsSource
	index  []Info
	byName map[string]int
	read   tensorReader
}

// tensorReader converts the named tensors, which the index holds.
type tensorReader func(names []string) (map[string]*Tensor, error)

// Open opens a checkpoint file, whatever its format (see Read), and reads
// its index. Nothing is converted yet.
func Open(path string) (*File, error) {
	return openFile(path, formatUnknown)
}

// openFile opens path and reads its index as format want, or as the format
// the content shows when want is formatUnknown.
func openFile(path string, want weightsFormat) (*File, error) {
	src, err := openWeightsSource(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err) // an *fs.PathError: it names the file
	}
	var index []Info
	var read tensorReader
	err = src.guard(func() error {
		index, read, err = indexSource(src, want)
		return err
	})
	if err == nil {
		err = src.changed()
	}
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	f := &File{path: path, src: src, index: index, byName: make(map[string]int, len(index)), read: read}
	for i, in := range index {
		f.byName[in.Name] = i
	}
	return f, nil
}

// indexSource reads the index of src as format want (formatUnknown: the
// sniffed one) and returns it with the reader of its tensors.
func indexSource(src *weightsSource, want weightsFormat) ([]Info, tensorReader, error) {
	format := weightsSniff(src)
	switch want {
	case formatUnknown:
		if format == formatUnknown {
			return nil, nil, errors.New("unrecognized weights format (want safetensors or a PyTorch checkpoint)")
		}
	case formatSafetensors:
		format = formatSafetensors // let the header parser explain what is wrong
	case formatAnyTorch:
		if format == formatUnknown || format == formatSafetensors {
			return nil, nil, torchFormatError(format)
		}
	}
	if format == formatSafetensors {
		return safetensorsIndex(src)
	}
	return torchIndex(src, format)
}

// Path is the file's path as given to Open.
func (f *File) Path() string { return f.path }

// Index lists every tensor of the checkpoint in file order.
func (f *File) Index() []Info { return slices.Clone(f.index) }

// Info returns the index entry of the named tensor.
func (f *File) Info(name string) (Info, bool) {
	i, ok := f.byName[name]
	if !ok {
		return Info{}, false
	}
	return f.index[i], true
}

// Read converts the named tensors to float32 (see Tensor). Naming a tensor
// the index does not hold is an error; so is a file that changed since Open.
func (f *File) Read(names ...string) (map[string]*Tensor, error) {
	if f.src == nil {
		return nil, fmt.Errorf("checkpoint: %s: Read after Close", f.path)
	}
	var missing []string
	for _, n := range names {
		if _, ok := f.byName[n]; !ok {
			missing = append(missing, quoteShort(n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("checkpoint: %s: no tensor %s in the checkpoint", f.path, tensorNameList(missing, 8))
	}
	var ts map[string]*Tensor
	err := f.src.guard(func() error {
		var err error
		ts, err = f.read(names)
		return err
	})
	if err == nil {
		// A file overwritten in place does not fault: its pages just hold
		// other bytes. Its size or time has moved, though.
		err = f.src.changed()
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", f.path, err)
	}
	return ts, nil
}

// ReadAll converts every tensor of the file.
func (f *File) ReadAll() (map[string]*Tensor, error) {
	names := make([]string, len(f.index))
	for i, in := range f.index {
		names[i] = in.Name
	}
	return f.Read(names...)
}

// Close releases the mapping or the open file. Closing twice is a no-op.
func (f *File) Close() error {
	if f.src == nil {
		return nil
	}
	err := f.src.Close()
	f.src = nil
	if err != nil {
		return fmt.Errorf("checkpoint: %s: %w", f.path, err)
	}
	return nil
}

// readPath opens path as format want, converts everything and closes it.
func readPath(path string, want weightsFormat) (map[string]*Tensor, error) {
	f, err := openFile(path, want)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadAll()
}

// readSource indexes src as format want and converts everything (tests and
// fuzzing).
func readSource(src *weightsSource, want weightsFormat) (ts map[string]*Tensor, err error) {
	err = src.guard(func() error {
		index, read, err := indexSource(src, want)
		if err != nil {
			return err
		}
		names := make([]string, len(index))
		for i, in := range index {
			names[i] = in.Name
		}
		ts, err = read(names)
		return err
	})
	return ts, err
}
