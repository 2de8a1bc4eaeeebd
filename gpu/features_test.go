package gpu

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCoopMatPolicy(t *testing.T) {
	for _, c := range []struct {
		name           string
		vendor, driver uint32
		device         string
		want           bool
	}{
		{"NVIDIA", vendorNVIDIA, 4, "NVIDIA H200", true},
		{"RADV RDNA2", vendorAMD, driverMesaRADV, "AMD Radeon RX 6800 (RADV NAVI21)", true},
		{"AMD driver RDNA2", vendorAMD, driverAMDProprietary, "AMD Radeon RX 6800", false},
		{"AMD driver RDNA3", vendorAMD, driverAMDProprietary, "AMD Radeon RX 7900 XTX", true},
		{"AMDVLK RDNA3", vendorAMD, driverAMDOpenSource, "AMD Radeon RX 7600", true},
		{"Intel Arc A770", vendorIntel, 6, "Intel(R) Arc(tm) A770 Graphics (DG2)", false},
		{"Intel Arc B580", vendorIntel, 6, "Intel(R) Arc(tm) B580 Graphics (BMG G21)", true},
		{"lavapipe", vendorMesa, 10, "llvmpipe (LLVM 19.1.7, 256 bits)", true},
		{"other vendor", 0x5143, 8, "Adreno", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, why := coopMatPolicy(c.vendor, c.driver, c.device)
			require.Equal(t, c.want, got, why)
			require.NotEmpty(t, why)
		})
	}
}

func TestCoopMatShapeString(t *testing.T) {
	s := CoopMatShape{M: 16, N: 8, K: 16, A: ComponentF16, B: ComponentF16, C: ComponentF32, Result: ComponentF32, Scope: ScopeSubgroup}
	require.Equal(t, "16x8x16 f16*f16+f32->f32 subgroup", s.String())
	require.True(t, s.HalfFloat())
	s.C, s.Result = ComponentF16, ComponentF16
	require.False(t, s.HalfFloat(), "fp16 accumulators are not used")
	require.Equal(t, "type99", ComponentType(99).String())
	require.Equal(t, "bf16", ComponentBF16.String())
	require.Equal(t, "workgroup", Scope(2).String())
	info := DeviceInfo{CoopMatShapes: []CoopMatShape{s, {M: 8, N: 8, K: 8, A: ComponentF16, B: ComponentF16, C: ComponentF32, Result: ComponentF32, Scope: ScopeSubgroup}}}
	require.Equal(t, []CoopMatShape{info.CoopMatShapes[1]}, info.HalfFloatShapes())
}
