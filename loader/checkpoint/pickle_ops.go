package checkpoint

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Pickle opcodes understood by the unpickler (binary protocols 2–5).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opEmptySet       = 0x8f
	opAddItems       = 0x90
	opFrozenSet      = 0x91
	opNewObjEx       = 0x92
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

// run executes opcodes until STOP and returns the top of the stack.
func (m *pickleMachine) run() (any, error) {
	for {
		op, err := m.readByte()
		if err != nil {
			return nil, err
		}
		if op == opStop {
			if len(m.marks) != 0 {
				return nil, errors.New("STOP inside an unclosed MARK")
			}
			if len(m.stack) != 1 {
				return nil, fmt.Errorf("STOP with %d values on the stack, want 1", len(m.stack))
			}
			return m.stack[0], nil
		}
		if err := m.step(op); err != nil {
			return nil, err
		}
	}
}

// step executes one opcode other than STOP.
func (m *pickleMachine) step(op byte) error {
	switch op {
	case opProto:
		v, err := m.readByte()
		if err != nil {
			return err
		}
		if v < 2 || v > 5 {
			return fmt.Errorf("unsupported pickle protocol %d", v)
		}
		return nil
	case opFrame:
		n, err := m.readUint(8)
		if err != nil {
			return err
		}
		if n > uint64(m.left) {
			return errPickleTruncated
		}
		return nil // frames are a buffering hint only
	case opMark:
		if len(m.marks) >= pickleMaxDepth {
			return fmt.Errorf("MARKs nested deeper than %d", pickleMaxDepth)
		}
		m.marks = append(m.marks, len(m.stack))
		return nil
	case opPop:
		_, err := m.pop()
		return err
	case opPopMark:
		_, err := m.popMark()
		return err
	case opDup:
		v, err := m.top()
		if err != nil {
			return err
		}
		return m.push(v)

	case opNone:
		return m.push(nil)
	case opNewTrue:
		return m.push(true)
	case opNewFalse:
		return m.push(false)
	case opBinInt:
		v, err := m.readUint(4)
		if err != nil {
			return err
		}
		return m.push(int64(int32(uint32(v))))
	case opBinInt1:
		v, err := m.readUint(1)
		if err != nil {
			return err
		}
		return m.push(int64(v))
	case opBinInt2:
		v, err := m.readUint(2)
		if err != nil {
			return err
		}
		return m.push(int64(v))
	case opLong1, opLong4:
		var n uint64
		var err error
		if op == opLong1 {
			n, err = m.readUint(1)
		} else {
			n, err = m.readUint(4)
			if err == nil && int32(uint32(n)) < 0 {
				return errors.New("LONG4 with a negative length")
			}
		}
		if err != nil {
			return err
		}
		if n > pickleMaxLong {
			return fmt.Errorf("%d-byte integer exceeds the %d-byte limit", n, pickleMaxLong)
		}
		b, err := m.readN(int64(n))
		if err != nil {
			return err
		}
		return m.push(decodeLong(b))
	case opBinFloat:
		b, err := m.readN(8)
		if err != nil {
			return err
		}
		var u uint64
		for _, c := range b {
			u = u<<8 | uint64(c) // big-endian
		}
		return m.push(math.Float64frombits(u))

	case opBinUnicode, opShortBinUni, opBinUnicode8:
		b, err := m.readSized(op, opShortBinUni, opBinUnicode)
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return errors.New("string is not valid UTF-8")
		}
		return m.push(string(b))
	case opBinString, opShortBinString:
		// Python 2 str: decoded as Latin-1 by torch.load's default
		// encoding, which is a no-op for the ASCII keys that matter here.
		b, err := m.readSized(op, opShortBinString, opBinString)
		if err != nil {
			return err
		}
		return m.push(string(b))
	case opBinBytes, opShortBinBytes, opBinBytes8:
		b, err := m.readSized(op, opShortBinBytes, opBinBytes)
		if err != nil {
			return err
		}
		return m.push(b)

	case opEmptyTuple:
		return m.push(&pickleTuple{depth: 1})
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		items := make([]any, n)
		for i := n - 1; i >= 0; i-- {
			v, err := m.pop()
			if err != nil {
				return err
			}
			items[i] = v
		}
		return m.pushTuple(items)
	case opTuple:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		return m.pushTuple(items)
	case opEmptyList:
		return m.push(&pickleList{depth: 1})
	case opEmptySet:
		return m.push(&pickleList{depth: 1})
	case opList, opFrozenSet:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		d, err := childDepth(items...)
		if err != nil {
			return err
		}
		return m.push(&pickleList{items: items, depth: d})
	case opEmptyDict:
		return m.push(&pickleDict{depth: 1})
	case opDict:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		d := &pickleDict{depth: 1}
		if err := setItems(d, items); err != nil {
			return err
		}
		return m.push(d)
	case opAppend:
		v, err := m.pop()
		if err != nil {
			return err
		}
		l, err := m.top()
		if err != nil {
			return err
		}
		return addItems(l, []any{v})
	case opAppends, opAddItems:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		l, err := m.top()
		if err != nil {
			return err
		}
		return addItems(l, items)
	case opSetItem:
		v, err := m.pop()
		if err != nil {
			return err
		}
		k, err := m.pop()
		if err != nil {
			return err
		}
		d, err := m.top()
		if err != nil {
			return err
		}
		return setItems(d, []any{k, v})
	case opSetItems:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		d, err := m.top()
		if err != nil {
			return err
		}
		return setItems(d, items)

	case opBinPut, opLongBinPut:
		idx, err := m.readUint(memoIndexBytes(op))
		if err != nil {
			return err
		}
		v, err := m.top()
		if err != nil {
			return err
		}
		return m.memoPut(idx, v)
	case opMemoize:
		v, err := m.top()
		if err != nil {
			return err
		}
		return m.memoPut(uint64(len(m.memo)), v)
	case opBinGet, opLongBinGet:
		idx, err := m.readUint(memoIndexBytes(op))
		if err != nil {
			return err
		}
		return m.memoGet(idx)

	case opGlobal:
		module, err := m.readLine()
		if err != nil {
			return err
		}
		name, err := m.readLine()
		if err != nil {
			return err
		}
		return m.global(module, name)
	case opStackGlobal:
		nv, err := m.pop()
		if err != nil {
			return err
		}
		mv, err := m.pop()
		if err != nil {
			return err
		}
		module, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return errors.New("STACK_GLOBAL with non-string module or name")
		}
		return m.global(module, name)
	case opReduce, opNewObj:
		args, err := m.pop()
		if err != nil {
			return err
		}
		fn, err := m.pop()
		if err != nil {
			return err
		}
		v, err := call(fn, args)
		if err != nil {
			return err
		}
		return m.push(v)
	case opNewObjEx:
		if _, err := m.pop(); err != nil { // kwargs: ignored, only inert classes accept it
			return err
		}
		args, err := m.pop()
		if err != nil {
			return err
		}
		fn, err := m.pop()
		if err != nil {
			return err
		}
		if g, ok := fn.(*pickleGlobal); !ok || g.kind != pkOpaque {
			return fmt.Errorf("NEWOBJ_EX of %s", pickleTypeName(fn))
		}
		v, err := call(fn, args)
		if err != nil {
			return err
		}
		return m.push(v)
	case opBuild:
		state, err := m.pop()
		if err != nil {
			return err
		}
		obj, err := m.top()
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *pickleDict, *pickleTensor:
			// OrderedDict._metadata, tensor state: not needed.
		case *pickleObject:
			d, err := childDepth(o.args, state)
			if err != nil {
				return err
			}
			o.depth = d
		default:
			return fmt.Errorf("BUILD on %s", pickleTypeName(obj))
		}
		return nil
	case opBinPersID:
		pid, err := m.pop()
		if err != nil {
			return err
		}
		if m.persistent == nil {
			return errors.New("persistent id outside a checkpoint")
		}
		v, err := m.persistent(pid)
		if err != nil {
			return err
		}
		return m.push(v)
	}
	return fmt.Errorf("unsupported pickle opcode 0x%02x", op)
}

// readSized reads a length-prefixed payload: a 1-byte length for the short
// opcode, a 4-byte length for the long one (signed for BINSTRING), an 8-byte
// length otherwise.
func (m *pickleMachine) readSized(op, short, long byte) ([]byte, error) {
	var n uint64
	var err error
	switch op {
	case short:
		n, err = m.readUint(1)
	case long:
		n, err = m.readUint(4)
		if err == nil && op == opBinString && int32(uint32(n)) < 0 {
			return nil, errors.New("BINSTRING with a negative length")
		}
	default:
		n, err = m.readUint(8)
	}
	if err != nil {
		return nil, err
	}
	if n > uint64(m.left) {
		return nil, errPickleTruncated
	}
	return m.readN(int64(n))
}

// memoIndexBytes is the width of the memo index that follows a BINPUT or
// BINGET opcode (1 byte) or their LONG_ forms (4 bytes).
func memoIndexBytes(op byte) int {
	if op == opLongBinPut || op == opLongBinGet {
		return 4
	}
	return 1
}
