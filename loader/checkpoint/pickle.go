package checkpoint

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
)

// This file is a small, audited unpickler for the subset of the pickle
// format (protocols 2 to 5, binary opcodes only) that torch.save writes.
// It never executes anything: globals are resolved against a fixed allow-list
// (pickleClassify) and "calls" (REDUCE, NEWOBJ) only build inert Go values.
// Any global outside the list (os.system, builtins.eval, a pickled
// nn.Module, ...) is an error at the opcode that names it, before the value
// could be used. Nothing here recurses over unpickled values, so cyclic or
// deeply nested data cannot exhaust the Go stack; the limits below also
// reject absurd inputs early with a clear error.

const (
	pickleMaxDepth  = 256     // MARK nesting and container nesting
	pickleMaxStack  = 1 << 20 // values on the stack
	pickleMaxMemo   = 1 << 20 // memo entries, and the largest memo index
	pickleMaxLine   = 256     // GLOBAL module/name lines
	pickleMaxLong   = 1024    // LONG1/LONG4 payload bytes
	pickleMaxString = 1 << 30 // a single string/bytes payload
)

// pickleKind classifies an allow-listed global.
type pickleKind int

const (
	pkOrderedDict   pickleKind = iota + 1 // collections.OrderedDict
	pkRebuildTensor                       // torch._utils._rebuild_tensor_v2 / _rebuild_tensor
	pkRebuildParam                        // torch._utils._rebuild_parameter[_with_state]
	pkTorchSize                           // torch.Size (a tuple)
	pkStorage                             // torch.<T>Storage, only valid inside a persistent id
	pkOpaque                              // inert plain-data class, kept as an opaque record
)

// pickleClassify is the allow-list. Tensor machinery is interpreted; the
// plain-data classes below may appear in training checkpoints next to the
// state dict (FB's "args" argparse.Namespace, numpy scalars, sets, paths) and
// become opaque records that are never looked into. Everything else is
// rejected.
func pickleClassify(module, name string) (pickleKind, tensorDtype, bool) {
	switch module + "." + name {
	case "collections.OrderedDict":
		return pkOrderedDict, 0, true
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return pkRebuildTensor, 0, true
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return pkRebuildParam, 0, true
	case "torch.Size":
		return pkTorchSize, 0, true
	case "torch.FloatStorage":
		return pkStorage, dtF32, true
	case "torch.HalfStorage":
		return pkStorage, dtF16, true
	case "torch.BFloat16Storage":
		return pkStorage, dtBF16, true
	case "torch.DoubleStorage":
		return pkStorage, dtF64, true
	case "torch.LongStorage":
		return pkStorage, dtI64, true
	case "torch.IntStorage":
		return pkStorage, dtI32, true
	case "torch.ShortStorage":
		return pkStorage, dtI16, true
	case "torch.CharStorage":
		return pkStorage, dtI8, true
	case "torch.ByteStorage":
		return pkStorage, dtU8, true
	case "torch.BoolStorage":
		return pkStorage, dtBool, true
	case "argparse.Namespace",
		"builtins.set", "builtins.frozenset", "builtins.slice", "builtins.complex",
		"_codecs.encode",
		"pathlib.PosixPath", "pathlib.WindowsPath",
		"numpy.core.multiarray.scalar", "numpy.core.multiarray._reconstruct",
		"numpy._core.multiarray.scalar", "numpy._core.multiarray._reconstruct",
		"numpy.ndarray", "numpy.dtype":
		return pkOpaque, 0, true
	}
	return 0, 0, false
}

// Unpickled values are nil (None), bool, int64, *big.Int, float64, string,
// []byte, and the pointer types below.

// pickleTuple is an immutable tuple.
type pickleTuple struct {
	items []any
	depth int
}

// pickleList is a list (also used for sets).
type pickleList struct {
	items []any
	depth int
}

// pickleDict is an insertion-ordered dict. Scalar keys (str, int, bool,
// None) are indexed so SETITEM overwrites like Python; other keys are kept
// in order without lookup.
type pickleDict struct {
	keys, vals []any
	index      map[any]int
	depth      int
}

// pickleGlobal is an allow-listed global.
type pickleGlobal struct {
	module, name string
	kind         pickleKind
	dtype        tensorDtype // for pkStorage
}

// pickleObject is an opaque instance of an inert allow-listed class.
type pickleObject struct {
	class *pickleGlobal
	args  any
	depth int
}

// pickleTensor is the record _rebuild_tensor_v2 would turn into a tensor:
// a storage (whatever the persistent loader returned), an element offset,
// a shape and element strides, all validated non-negative.
type pickleTensor struct {
	storage any
	offset  int64
	shape   []int64
	stride  []int64
}

// get looks up a string key.
func (d *pickleDict) get(key string) (any, bool) {
	if i, ok := d.index[key]; ok {
		return d.vals[i], true
	}
	return nil, false
}

// set inserts or overwrites key.
func (d *pickleDict) set(key, val any) {
	switch key.(type) {
	case nil, bool, int64, string:
		if d.index == nil {
			d.index = make(map[any]int)
		}
		if i, ok := d.index[key]; ok {
			d.vals[i] = val
			return
		}
		d.index[key] = len(d.keys)
	}
	d.keys = append(d.keys, key)
	d.vals = append(d.vals, val)
}

// pickleDepth is the nesting depth of a value (0 for scalars).
func pickleDepth(v any) int {
	switch v := v.(type) {
	case *pickleTuple:
		return v.depth
	case *pickleList:
		return v.depth
	case *pickleDict:
		return v.depth
	case *pickleObject:
		return v.depth
	}
	return 0
}

// pickleTypeName names a value's type for error messages.
func pickleTypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *pickleTuple:
		return "tuple"
	case *pickleList:
		return "list"
	case *pickleDict:
		return "dict"
	case *pickleGlobal:
		return v.module + "." + v.name
	case *pickleObject:
		return v.class.module + "." + v.class.name + " object"
	case *pickleTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// pickleShort shows an unpickled value in an error message: scalars as
// they are (long strings and numbers cut), containers by their type.
func pickleShort(v any) string {
	switch v := v.(type) {
	case nil, bool, int64, float64:
		return fmt.Sprint(v)
	case string:
		return quoteShort(v)
	case []byte:
		return "b" + quoteShort(string(v))
	case *big.Int:
		if v.BitLen() <= 128 {
			return v.String()
		}
		return fmt.Sprintf("an int of %d bits", v.BitLen())
	}
	return pickleTypeName(v)
}

// pickleMachine is the unpickler state for one pickle.
type pickleMachine struct {
	r        *bufio.Reader
	left     int64 // bytes the stream may still supply
	consumed int64
	stack    []any
	marks    []int
	memo     map[uint32]any
	// persistent turns a BINPERSID id into a value (a storage); nil rejects
	// persistent ids.
	persistent func(pid any) (any, error)
}

// unpickle reads one pickle (up to its STOP opcode) from r, which may supply
// at most limit bytes, and returns the value and the bytes consumed.
func unpickle(r *bufio.Reader, limit int64, persistent func(pid any) (any, error)) (any, int64, error) {
	m := &pickleMachine{r: r, left: limit, memo: make(map[uint32]any), persistent: persistent}
	v, err := m.run()
	if err != nil {
		return nil, m.consumed, fmt.Errorf("pickle at byte %d: %w", m.consumed, err)
	}
	return v, m.consumed, nil
}

var errPickleTruncated = errors.New("unexpected end of data")

func (m *pickleMachine) readByte() (byte, error) {
	if m.left < 1 {
		return 0, errPickleTruncated
	}
	b, err := m.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, errPickleTruncated
		}
		return 0, err
	}
	m.left--
	m.consumed++
	return b, nil
}

// readN reads n bytes; n is checked against what the stream may still
// supply before allocating.
func (m *pickleMachine) readN(n int64) ([]byte, error) {
	if n < 0 || n > m.left {
		return nil, errPickleTruncated
	}
	if n > pickleMaxString {
		return nil, fmt.Errorf("%d-byte payload exceeds the %d-byte limit", n, pickleMaxString)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(m.r, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, errPickleTruncated
		}
		return nil, err
	}
	m.left -= n
	m.consumed += n
	return buf, nil
}

func (m *pickleMachine) readUint(n int) (uint64, error) {
	b, err := m.readN(int64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// readLine reads a newline-terminated line of at most pickleMaxLine bytes.
func (m *pickleMachine) readLine() (string, error) {
	var sb strings.Builder
	for {
		b, err := m.readByte()
		if err != nil {
			return "", err
		}
		if b == '\n' {
			return sb.String(), nil
		}
		if sb.Len() >= pickleMaxLine {
			return "", fmt.Errorf("GLOBAL line longer than %d bytes", pickleMaxLine)
		}
		sb.WriteByte(b)
	}
}

func (m *pickleMachine) push(v any) error {
	if len(m.stack) >= pickleMaxStack {
		return fmt.Errorf("stack exceeds %d values", pickleMaxStack)
	}
	m.stack = append(m.stack, v)
	return nil
}

func (m *pickleMachine) pop() (any, error) {
	base := 0
	if len(m.marks) > 0 {
		base = m.marks[len(m.marks)-1]
	}
	if len(m.stack) <= base {
		return nil, errors.New("stack underflow")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v, nil
}

func (m *pickleMachine) top() (any, error) {
	base := 0
	if len(m.marks) > 0 {
		base = m.marks[len(m.marks)-1]
	}
	if len(m.stack) <= base {
		return nil, errors.New("stack underflow")
	}
	return m.stack[len(m.stack)-1], nil
}

// popMark pops everything above the innermost MARK (and the mark).
func (m *pickleMachine) popMark() ([]any, error) {
	if len(m.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := append([]any(nil), m.stack[k:]...)
	m.stack = m.stack[:k]
	return items, nil
}

// childDepth returns 1 + the deepest of items, or an error past the limit.
func childDepth(items ...any) (int, error) {
	d := 0
	for _, it := range items {
		if x := pickleDepth(it); x > d {
			d = x
		}
	}
	if d+1 > pickleMaxDepth {
		return 0, fmt.Errorf("data nested deeper than %d levels", pickleMaxDepth)
	}
	return d + 1, nil
}

func (m *pickleMachine) pushTuple(items []any) error {
	d, err := childDepth(items...)
	if err != nil {
		return err
	}
	return m.push(&pickleTuple{items: items, depth: d})
}

func (m *pickleMachine) memoPut(idx uint64, v any) error {
	if idx >= pickleMaxMemo {
		return fmt.Errorf("memo index %d exceeds the limit of %d", idx, pickleMaxMemo)
	}
	if _, ok := m.memo[uint32(idx)]; !ok && len(m.memo) >= pickleMaxMemo {
		return fmt.Errorf("memo exceeds %d entries", pickleMaxMemo)
	}
	m.memo[uint32(idx)] = v
	return nil
}

func (m *pickleMachine) memoGet(idx uint64) error {
	v, ok := m.memo[uint32(idx)]
	if idx > math.MaxUint32 || !ok {
		return fmt.Errorf("memo index %d was never stored", idx)
	}
	return m.push(v)
}

// global resolves module.name against the allow-list.
func (m *pickleMachine) global(module, name string) error {
	kind, dt, ok := pickleClassify(module, name)
	if !ok {
		return fmt.Errorf("pickle imports disallowed global %s (only tensor, storage and plain-data classes are allowed; nothing is executed)", plainShort(module+"."+name))
	}
	return m.push(&pickleGlobal{module: module, name: name, kind: kind, dtype: dt})
}

// addItems appends items to a list (APPEND/APPENDS/ADDITEMS).
func addItems(target any, items []any) error {
	l, ok := target.(*pickleList)
	if !ok {
		return fmt.Errorf("cannot append to %s", pickleTypeName(target))
	}
	d, err := childDepth(items...)
	if err != nil {
		return err
	}
	if d > l.depth {
		l.depth = d
	}
	l.items = append(l.items, items...)
	return nil
}

// setItems stores key/value pairs into a dict (SETITEM/SETITEMS).
func setItems(target any, kv []any) error {
	d, ok := target.(*pickleDict)
	if !ok {
		return fmt.Errorf("cannot set items on %s", pickleTypeName(target))
	}
	if len(kv)%2 != 0 {
		return errors.New("SETITEMS with an odd number of values")
	}
	depth, err := childDepth(kv...)
	if err != nil {
		return err
	}
	if depth > d.depth {
		d.depth = depth
	}
	for i := 0; i < len(kv); i += 2 {
		d.set(kv[i], kv[i+1])
	}
	return nil
}

// call interprets REDUCE/NEWOBJ of an allow-listed global with args.
func call(fn any, args any) (any, error) {
	g, ok := fn.(*pickleGlobal)
	if !ok {
		return nil, fmt.Errorf("cannot call %s", pickleTypeName(fn))
	}
	t, ok := args.(*pickleTuple)
	if !ok {
		return nil, fmt.Errorf("%s.%s called with %s arguments, not a tuple", g.module, g.name, pickleTypeName(args))
	}
	switch g.kind {
	case pkOrderedDict:
		d := &pickleDict{}
		if len(t.items) == 0 {
			return d, nil
		}
		if len(t.items) != 1 {
			return nil, fmt.Errorf("OrderedDict called with %d arguments", len(t.items))
		}
		l, ok := t.items[0].(*pickleList)
		if !ok {
			return nil, fmt.Errorf("OrderedDict called with %s", pickleTypeName(t.items[0]))
		}
		for _, it := range l.items {
			pair, ok := it.(*pickleTuple)
			if !ok || len(pair.items) != 2 {
				return nil, errors.New("OrderedDict item is not a pair")
			}
			d.set(pair.items[0], pair.items[1])
		}
		d.depth = l.depth
		return d, nil
	case pkRebuildTensor:
		return rebuildTensor(t.items)
	case pkRebuildParam:
		if len(t.items) < 1 {
			return nil, errors.New("_rebuild_parameter called without a tensor")
		}
		if _, ok := t.items[0].(*pickleTensor); !ok {
			return nil, fmt.Errorf("_rebuild_parameter called with %s", pickleTypeName(t.items[0]))
		}
		return t.items[0], nil
	case pkTorchSize:
		if len(t.items) != 1 {
			return nil, errors.New("torch.Size called with a wrong argument count")
		}
		return t.items[0], nil
	case pkOpaque:
		return &pickleObject{class: g, args: t, depth: t.depth}, nil
	}
	return nil, fmt.Errorf("%s.%s cannot be called", g.module, g.name)
}

// rebuildTensor checks the arguments of _rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).
func rebuildTensor(args []any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 called with %d arguments, want at least 4", len(args))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("tensor storage offset is %s, not a non-negative int", pickleShort(args[1]))
	}
	shape, err := pickleInts(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := pickleInts(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("tensor size %v and stride %v differ in rank", shape, stride)
	}
	return &pickleTensor{storage: args[0], offset: off, shape: shape, stride: stride}, nil
}

// pickleInts reads a tuple of non-negative ints (at most 64).
func pickleInts(v any, what string) ([]int64, error) {
	t, ok := v.(*pickleTuple)
	if !ok {
		return nil, fmt.Errorf("tensor %s is %s, not a tuple", what, pickleTypeName(v))
	}
	if len(t.items) > 64 {
		return nil, fmt.Errorf("tensor %s has %d dimensions", what, len(t.items))
	}
	out := make([]int64, len(t.items))
	for i, it := range t.items {
		n, ok := it.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("tensor %s holds %s, not a non-negative int", what, pickleShort(it))
		}
		out[i] = n
	}
	return out, nil
}

// decodeLong decodes a little-endian two's-complement integer.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := uint(64 - 8*len(b))
		return int64(v<<shift) >> shift
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}
