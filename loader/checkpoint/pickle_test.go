package checkpoint

import (
	"bufio"
	"bytes"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

func wtUnpickle(data []byte) (any, error) {
	v, _, err := unpickle(bufio.NewReader(bytes.NewReader(data)), int64(len(data)), nil)
	return v, err
}

// TestUnpickleValues decodes the scalar and container opcodes.
func TestUnpickleValues(t *testing.T) {
	p := (&wtPickle{}).op(opProto, 2, opMark)
	p.op(opNone, opNewTrue, opNewFalse)
	p.op(opBinInt1, 200).op(opBinInt2, 0x34, 0x12).int(-5)
	p.op(opLong1, 2, 0x00, 0x80)                   // -32768
	p.op(opLong1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1)    // 2^64
	p.op(opLong1, 0)                               // 0
	p.op(opBinFloat, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0) // 1.5
	p.op(opShortBinUni, 2, 'h', 'i').op(opShortBinString, 1, 'x')
	p.op(opShortBinBytes, 2, 1, 2)
	p.op(opEmptyList, opBinPut, 0, opBinInt1, 1, opAppend, opBinGet, 0, opPop) // list memo, DUP-free
	p.op(opEmptySet, opMark, opBinInt1, 7, opAddItems)
	p.op(opMark, opBinInt1, 1, opBinInt1, 2, opFrozenSet)
	p.op(opMark).str("k").int(1).op(opDict)
	p.op(opTuple, opStop)
	v, err := wtUnpickle(p.bytes())
	require.NoError(t, err)
	tup := v.(*pickleTuple)
	want2_64, _ := new(big.Int).SetString("18446744073709551616", 10)
	require.Equal(t, nil, tup.items[0])
	require.Equal(t, true, tup.items[1])
	require.Equal(t, false, tup.items[2])
	require.Equal(t, int64(200), tup.items[3])
	require.Equal(t, int64(0x1234), tup.items[4])
	require.Equal(t, int64(-5), tup.items[5])
	require.Equal(t, int64(-32768), tup.items[6])
	require.Equal(t, 0, want2_64.Cmp(tup.items[7].(*big.Int)))
	require.Equal(t, int64(0), tup.items[8])
	require.Equal(t, 1.5, tup.items[9])
	require.Equal(t, "hi", tup.items[10])
	require.Equal(t, "x", tup.items[11])
	require.Equal(t, []byte{1, 2}, tup.items[12])
	require.Equal(t, []any{int64(1)}, tup.items[13].(*pickleList).items)
	require.Equal(t, []any{int64(7)}, tup.items[14].(*pickleList).items)
	require.Equal(t, []any{int64(1), int64(2)}, tup.items[15].(*pickleList).items)
	d := tup.items[16].(*pickleDict)
	got, ok := d.get("k")
	require.True(t, ok)
	require.Equal(t, int64(1), got)
	require.Len(t, tup.items, 17)
}

// TestUnpickleLimits feeds hostile pickles to the unpickler directly.
func TestUnpickleLimits(t *testing.T) {
	deepMarks := append([]byte{opProto, 2}, bytes.Repeat([]byte{opMark}, pickleMaxDepth+1)...)
	deepTuples := append([]byte{opProto, 2, opEmptyList}, bytes.Repeat([]byte{opTuple1}, pickleMaxDepth+1)...)
	deepLists := []byte{opProto, 2, opEmptyList}
	for i := 0; i < pickleMaxDepth+1; i++ {
		deepLists = append(deepLists, opEmptyList, opBinPut, 0, opPop, opBinGet, 0) // stays shallow on the stack
		deepLists = append(deepLists, opEmptyList)
	}
	nestedAppend := []byte{opProto, 2, opEmptyList}
	for i := 0; i < pickleMaxDepth+1; i++ {
		nestedAppend = append(nestedAppend, opEmptyList, opMark)
	}
	selfRef := []byte{opProto, 2, opEmptyList, opBinPut, 0, opBinGet, 0, opAppend, opStop}
	cases := []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "unexpected end of data"},
		{"no stop", []byte{opProto, 2, opNone}, "unexpected end of data"},
		{"deep marks", deepMarks, "MARKs nested deeper than 256"},
		{"deep tuples", deepTuples, "nested deeper than 256 levels"},
		{"huge memo put", []byte{opProto, 2, opNone, opLongBinPut, 0xff, 0xff, 0xff, 0xff, opStop}, "memo index 4294967295 exceeds the limit"},
		{"memo get unset", []byte{opProto, 2, opLongBinGet, 0xf0, 0xff, 0xff, 0xff, opStop}, "memo index 4294967280 was never stored"},
		{"string past end", []byte{opProto, 2, opBinUnicode, 0xff, 0xff, 0xff, 0xff, 'a', opStop}, "unexpected end of data"},
		{"unicode8 past end", []byte{opProto, 4, opBinUnicode8, 0, 0, 0, 0, 0, 0, 0, 0x80, opStop}, "unexpected end of data"},
		{"frame past end", []byte{opProto, 4, opFrame, 0xff, 0, 0, 0, 0, 0, 0, 0, opNone, opStop}, "unexpected end of data"},
		{"long too big", append([]byte{opProto, 2, opLong4, 0, 0, 1, 0}, make([]byte, 10)...), "integer exceeds"},
		{"negative binstring", []byte{opProto, 2, opBinString, 0xff, 0xff, 0xff, 0xff, opStop}, "negative length"},
		{"bad utf8", []byte{opProto, 2, opShortBinUni, 1, 0xff, opStop}, "not valid UTF-8"},
		{"protocol 0 opcode", []byte{'I', '1', '\n', opStop}, "unsupported pickle opcode 0x49"},
		{"protocol 9", []byte{opProto, 9, opNone, opStop}, "unsupported pickle protocol 9"},
		{"underflow", []byte{opProto, 2, opReduce, opStop}, "stack underflow"},
		{"underflow below mark", []byte{opProto, 2, opNone, opMark, opPop, opStop}, "stack underflow"},
		{"append to int", []byte{opProto, 2, opBinInt1, 1, opNone, opAppend, opStop}, "cannot append to int"},
		{"setitem odd", []byte{opProto, 2, opEmptyDict, opMark, opNone, opSetItems, opStop}, "odd number"},
		{"two values at stop", []byte{opProto, 2, opNone, opNone, opStop}, "STOP with 2 values"},
		{"unclosed mark", []byte{opProto, 2, opMark, opNone, opStop}, "unclosed MARK"},
		{"call non-callable", []byte{opProto, 2, opNone, opEmptyTuple, opReduce, opStop}, "cannot call None"},
		{"call storage", (&wtPickle{}).op(opProto, 2).global("torch", "FloatStorage").op(opEmptyTuple, opReduce, opStop).bytes(), "cannot be called"},
		{"persid without loader", []byte{opProto, 2, opNone, opBinPersID, opStop}, "persistent id outside a checkpoint"},
		{"long global line", append(append([]byte{opProto, 2, opGlobal}, bytes.Repeat([]byte{'a'}, 300)...), '\n'), "GLOBAL line longer"},
		{"os.system", (&wtPickle{}).op(opProto, 2).global("os", "system").op(opStop).bytes(), "disallowed global os.system"},
		{"posix.system", (&wtPickle{}).op(opProto, 2).global("posix", "system").op(opStop).bytes(), "disallowed global posix.system"},
		{"builtins.eval", (&wtPickle{}).op(opProto, 4).str("builtins").str("eval").op(opStackGlobal, opStop).bytes(), "disallowed global builtins.eval"},
		{"builtins.getattr", (&wtPickle{}).op(opProto, 2).global("builtins", "getattr").op(opStop).bytes(), "disallowed global builtins.getattr"},
		{"stack global non-string", []byte{opProto, 4, opNone, opNone, opStackGlobal, opStop}, "non-string module"},
		{"build on int", []byte{opProto, 2, opBinInt1, 1, opNone, opBuild, opStop}, "BUILD on int"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wtUnpickle(tc.data)
			require.ErrorContains(t, err, tc.msg)
			require.ErrorContains(t, err, "pickle at byte")
		})
	}
	// Nesting through mutation and self-reference stays bounded and
	// terminates: nothing walks the values recursively.
	for _, data := range [][]byte{deepLists, nestedAppend, selfRef} {
		_, err := wtUnpickle(data)
		if err != nil {
			require.NotContains(t, err.Error(), "panic")
		}
	}
	v, err := wtUnpickle(selfRef)
	require.NoError(t, err)
	l := v.(*pickleList)
	require.Same(t, l, l.items[0].(*pickleList))
}

// TestUnpickleOpaque shows that inert allow-listed classes (as found in
// Facebook training checkpoints) become opaque values instead of errors.
func TestUnpickleOpaque(t *testing.T) {
	p := (&wtPickle{}).op(opProto, 2, opEmptyDict).str("args").global("argparse", "Namespace").op(opEmptyTuple, opNewObj)
	p.op(opEmptyDict).str("lr").op(opBinFloat, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0).op(opSetItem, opBuild, opSetItem, opStop)
	v, err := wtUnpickle(p.bytes())
	require.NoError(t, err)
	args, ok := v.(*pickleDict).get("args")
	require.True(t, ok)
	obj := args.(*pickleObject)
	require.Equal(t, "argparse", obj.class.module)
	require.Equal(t, "Namespace", obj.class.name)
}
