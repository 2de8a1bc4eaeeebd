package gpu

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	vk "github.com/vulkan-go/vulkan"
)

func TestSpirvBindings(t *testing.T) {
	tests := []struct {
		file     string
		used     map[int]bool
		readonly map[int]bool
	}{
		{"testdata/add.spv", map[int]bool{0: true, 1: true}, map[int]bool{0: true, 1: false}},
		{"testdata/inc.spv", map[int]bool{0: true}, map[int]bool{0: false}},
	}
	for _, tc := range tests {
		b, err := os.ReadFile(tc.file)
		require.NoError(t, err)
		code, err := spirvWords(b)
		require.NoError(t, err)
		used, ro := spirvBindings(code)
		require.Equal(t, tc.used, used, tc.file)
		require.Equal(t, tc.readonly, ro, tc.file)
	}
}

func TestPickMemoryType(t *testing.T) {
	const (
		local   = memDeviceLocal
		visible = memHostVisible | memHostCoherent
	)
	// A discrete GPU: VRAM, host memory, and a 256 MiB host-visible BAR window.
	m := memoryTypes{types: []memoryType{
		{flags: local | visible, heapSize: 256 << 20},
		{flags: local, heapSize: 24 << 30},
		{flags: visible, heapSize: 64 << 30},
		{flags: visible | memHostCached, heapSize: 64 << 30},
	}}
	tests := []struct {
		name       string
		bits       uint32
		need, want vk.MemoryPropertyFlags
		idx        int
	}{
		{"device buffers go to VRAM, not the BAR", 0xf, local, local, 1},
		{"staging prefers cached", 0xf, visible, visible | memHostCached, 3},
		{"allowed bits respected", 0x5, visible, visible | memHostCached, 2},
		{"only the BAR allowed", 0x1, local, local, 0},
		{"nothing fits", 0x2, visible, visible, -1},
	}
	for _, tc := range tests {
		require.Equal(t, tc.idx, m.pick(tc.bits, tc.need, tc.want), tc.name)
	}
}
