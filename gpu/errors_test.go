package gpu_test

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

func TestPush(t *testing.T) {
	tests := []struct {
		vals []any
		want []byte
	}{
		{nil, []byte{}},
		{[]any{uint32(0x01020304)}, []byte{4, 3, 2, 1}},
		{[]any{int32(-1)}, []byte{0xff, 0xff, 0xff, 0xff}},
		{[]any{float32(1)}, []byte{0, 0, 0x80, 0x3f}},
		{[]any{197, -2}, []byte{197, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff}},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, gpu.Push(tc.vals...), "%v", tc.vals)
	}
	require.PanicsWithValue(t, "gpu.Push: argument 1 has type float64; want uint32, int32, int or float32",
		func() { gpu.Push(1, 2.5) })
	require.Panics(t, func() { gpu.Push(1 << 40) })
}

func TestArg(t *testing.T) {
	var b gpu.Buffer
	require.Equal(t, gpu.Arg{Buf: &b}, gpu.R(&b))
	require.Equal(t, gpu.Arg{Buf: &b, Write: true}, gpu.W(&b))
	require.Equal(t, gpu.Arg{Buf: &b, Offset: 64, Size: 32, Write: true}, gpu.W(&b).Range(64, 32))
	require.Equal(t, gpu.Arg{Buf: &b, Offset: 96, Size: 8}, gpu.R(&b).Range(64, 0).Range(32, 8))
}

func TestPipelineErrors(t *testing.T) {
	d := gputest.Open(t)
	tests := []struct {
		name string
		k    gpu.Kernel
		want string
	}{
		{"not SPIR-V", gpu.Kernel{Name: "junk", SPIRV: bytes.Repeat([]byte("GLSL"), 8), Bindings: 2, PushBytes: 8}, "not SPIR-V"},
		{"truncated", gpu.Kernel{Name: "short", SPIRV: addSPV[:7], Bindings: 2, PushBytes: 8}, "not a whole module"},
		{"too few bindings", gpu.Kernel{Name: "add1", SPIRV: addSPV, Bindings: 1, PushBytes: 8}, "uses binding 1"},
		{"odd push size", gpu.Kernel{Name: "add2", SPIRV: addSPV, Bindings: 2, PushBytes: 6}, "push constant size 6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := d.Pipeline(tc.k)
			require.Nil(t, p)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, tc.k.Name)
		})
	}
	_, err := d.Pipeline(rtAdd)
	require.NoError(t, err)
	_, err = d.Pipeline(gpu.Kernel{Name: rtAdd.Name, SPIRV: addSPV, Bindings: 3, PushBytes: 8})
	require.ErrorContains(t, err, "cached with 2 bindings")
	_, err = d.Pipeline(gpu.Kernel{Name: rtAdd.Name, SPIRV: incSPV, Bindings: 1, PushBytes: 8})
	require.ErrorContains(t, err, "different shader")
}

func TestDispatchErrors(t *testing.T) {
	d := gputest.Open(t)
	p, err := d.Pipeline(rtAdd)
	require.NoError(t, err)
	x := rtBuffer(t, d, make([]float32, 256))
	y := rtBuffer(t, d, make([]float32, 256))
	freed := rtBuffer(t, d, make([]float32, 256))
	freed.Free()
	other := gputest.Open(t)
	foreign := rtBuffer(t, other, make([]float32, 256))
	push := gpu.Push(256, float32(1))
	g := rtGroups(256)
	tests := []struct {
		name   string
		groups [3]uint32
		push   []byte
		args   []gpu.Arg
		want   string
	}{
		{"missing buffer", g, push, []gpu.Arg{gpu.R(x)}, "takes 2 buffers, got 1"},
		{"short push", g, push[:4], []gpu.Arg{gpu.R(x), gpu.W(y)}, "takes 8 push-constant bytes, got 4"},
		{"range past the end", g, push, []gpu.Arg{gpu.R(x).Range(512, 1024), gpu.W(y)}, "outside the 1024-byte buffer"},
		{"negative offset", g, push, []gpu.Arg{gpu.R(x).Range(-16, 0), gpu.W(y)}, "outside"},
		{"size overflowing int64", g, push, []gpu.Arg{gpu.R(x).Range(512, math.MaxInt64), gpu.W(y)}, "outside the 1024-byte buffer"},
		{"freed buffer", g, push, []gpu.Arg{gpu.R(freed), gpu.W(y)}, "freed"},
		{"buffer of another device", g, push, []gpu.Arg{gpu.R(foreign), gpu.W(y)}, "another device"},
		{"too many groups", [3]uint32{1, 1, 1 << 31}, push, []gpu.Arg{gpu.R(x), gpu.W(y)}, "exceed the device limit"},
	}
	if a := d.StorageAlign(); a > 4 {
		tests = append(tests, struct {
			name   string
			groups [3]uint32
			push   []byte
			args   []gpu.Arg
			want   string
		}{"misaligned offset", g, push, []gpu.Arg{gpu.R(x).Range(4, 64), gpu.W(y)}, "not a multiple of the device's storage buffer alignment"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := d.NewSequence(false)
			require.NoError(t, err)
			defer s.Close()
			err = s.Dispatch("bad", p, tc.groups, tc.push, tc.args...)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "dispatch bad")
			require.Zero(t, s.Barriers())
			// A rejected dispatch records nothing: the sequence still works.
			require.NoError(t, s.Dispatch("good", p, g, push, gpu.R(x), gpu.W(y)))
			require.NoError(t, s.Finish())
			require.NoError(t, s.Run(context.Background()))
		})
	}

	s, err := d.NewSequence(false)
	require.NoError(t, err)
	require.ErrorContains(t, s.Run(context.Background()), "not finished")
	require.ErrorContains(t, s.Dispatch("nil", nil, g, push), "nil")
	require.NoError(t, s.Finish())
	require.ErrorContains(t, s.Dispatch("late", p, g, push, gpu.R(x), gpu.W(y)), "already finished")
	require.ErrorContains(t, s.Copy(gpu.W(y), gpu.R(x)), "already finished")
	require.ErrorContains(t, s.Finish(), "already finished")
	s.Close()
	s.Close()
	require.ErrorContains(t, s.Dispatch("closed", p, g, push, gpu.R(x), gpu.W(y)), "closed")

	s2, err := other.NewSequence(false)
	require.NoError(t, err)
	defer s2.Close()
	require.ErrorContains(t, s2.Dispatch("foreign", p, g, push, gpu.R(x), gpu.W(y)), "another device")
}

// TestZeroArg binds the zero Arg (an optional input left out): it binds a
// placeholder buffer, so the dispatch is valid as long as the shader does
// not touch it.
func TestZeroArg(t *testing.T) {
	d := gputest.Open(t)
	p, err := d.Pipeline(rtInc)
	require.NoError(t, err)
	s, err := d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Dispatch("none", p, [3]uint32{1, 1, 1}, gpu.Push(0, float32(1)), gpu.Arg{}))
	require.NoError(t, s.Dispatch("none", p, [3]uint32{1, 1, 1}, gpu.Push(0, float32(1)), gpu.Arg{}))
	require.ErrorContains(t, s.Copy(gpu.Arg{}, gpu.Arg{}), "nil buffer")
	require.NoError(t, s.Finish())
	require.NoError(t, s.Run(context.Background()))
}

func TestGlueRejectsBadArgs(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	b := e.upload(t, make([]float32, 16))
	s, err := e.d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	require.ErrorContains(t, e.ops.GELU(s, gpu.W(b), gpu.R(b), 17), "out holds 64 bytes, needs 68")
	require.ErrorContains(t, e.ops.LayerNorm(s, gpu.W(b), gpu.R(b), gpu.R(b), gpu.R(b), 2, 8, -1), "eps")
	require.ErrorContains(t, e.ops.LayerNorm(s, gpu.W(b), gpu.R(b), gpu.R(b), gpu.Arg{}, 2, 8, 1e-5), "beta: no buffer")
	require.ErrorContains(t, e.ops.Patchify(s, gpu.W(b), gpu.R(b), 1, 1, 4, 4, 5), "patch size 5")
	require.ErrorContains(t, e.ops.Tokens(s, gpu.W(b), gpu.R(b), gpu.R(b), gpu.R(b), 1, 2, 2, 1), "special tokens")
	require.ErrorContains(t, e.ops.GatherRows(s, gpu.W(b), gpu.R(b), 1, 2, 3, 1), "3 rows requested from 2")
}
