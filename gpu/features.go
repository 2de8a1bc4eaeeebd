package gpu

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"strings"

	vk "github.com/vulkan-go/vulkan"
)

// ComponentType is the element type of a cooperative matrix, with the
// values of VkComponentTypeKHR.
type ComponentType uint32

// The component types vkdeit names; others print as their number.
const (
	ComponentF16 ComponentType = 0
	ComponentF32 ComponentType = 1
	ComponentF64 ComponentType = 2
	ComponentS8  ComponentType = 3
	ComponentS16 ComponentType = 4
	ComponentS32 ComponentType = 5
	ComponentS64 ComponentType = 6
	ComponentU8  ComponentType = 7
	ComponentU16 ComponentType = 8
	ComponentU32 ComponentType = 9
	ComponentU64 ComponentType = 10
	// ComponentBF16 is VK_COMPONENT_TYPE_BFLOAT16_KHR (VK_KHR_shader_bfloat16).
	ComponentBF16 ComponentType = 1000141000
)

// String returns a short name such as "f16" or "s8".
func (c ComponentType) String() string {
	names := map[ComponentType]string{
		ComponentF16: "f16", ComponentF32: "f32", ComponentF64: "f64",
		ComponentS8: "s8", ComponentS16: "s16", ComponentS32: "s32", ComponentS64: "s64",
		ComponentU8: "u8", ComponentU16: "u16", ComponentU32: "u32", ComponentU64: "u64",
		ComponentBF16: "bf16",
	}
	if s, ok := names[c]; ok {
		return s
	}
	return fmt.Sprintf("type%d", uint32(c))
}

// Scope is the set of invocations that cooperate on one matrix, with the
// values of VkScopeKHR.
type Scope uint32

// ScopeSubgroup is the only scope vkdeit's kernels use.
const ScopeSubgroup Scope = 3

// String returns "subgroup", "workgroup", "device" or "queue-family".
func (s Scope) String() string {
	switch s {
	case 1:
		return "device"
	case 2:
		return "workgroup"
	case ScopeSubgroup:
		return "subgroup"
	case 5:
		return "queue-family"
	}
	return fmt.Sprintf("scope%d", uint32(s))
}

// CoopMatShape is one cooperative-matrix multiply the device supports
// (VkCooperativeMatrixPropertiesKHR): Result[M×N] = A[M×K]·B[K×N] + C[M×N].
type CoopMatShape struct {
	M, N, K    uint32
	A, B, C    ComponentType
	Result     ComponentType
	Saturating bool // integer accumulation saturates
	Scope      Scope
}

// String formats the shape as "16x8x16 f16*f16+f32->f32 subgroup".
func (s CoopMatShape) String() string {
	return fmt.Sprintf("%dx%dx%d %v*%v+%v->%v %v", s.M, s.N, s.K, s.A, s.B, s.C, s.Result, s.Scope)
}

// HalfFloat reports whether the shape multiplies fp16 by fp16 into fp32
// accumulators at subgroup scope: the shapes vkdeit's coopmat kernels use.
func (s CoopMatShape) HalfFloat() bool {
	return s.A == ComponentF16 && s.B == ComponentF16 && s.C == ComponentF32 && s.Result == ComponentF32 && s.Scope == ScopeSubgroup
}

// Vulkan vendor IDs (PCI) and driver IDs (VkDriverId) used by the
// cooperative-matrix policy.
const (
	vendorAMD    = 0x1002
	vendorNVIDIA = 0x10de
	vendorIntel  = 0x8086
	vendorMesa   = 0x10005 // VK_VENDOR_ID_MESA: lavapipe, venus

	driverAMDProprietary = 1
	driverAMDOpenSource  = 2 // AMDVLK
	driverMesaRADV       = 3
)

// coopMatPolicy decides whether vkdeit trusts a device's cooperative-matrix
// support, and why. Some drivers advertise VK_KHR_cooperative_matrix on
// hardware without matrix units, where the emulation is slower than plain
// fp16 code (ggml-vulkan made the same observations): NVIDIA (Turing and
// later) is trusted; AMD only for RDNA3 on AMD's own drivers, and always
// with Mesa's RADV (which advertises it only on gfx11+); Intel only for Xe2;
// every other driver, lavapipe included, is taken at its word.
func coopMatPolicy(vendor, driver uint32, name string) (bool, string) {
	lname := strings.ToLower(name)
	switch vendor {
	case vendorNVIDIA:
		return true, "NVIDIA"
	case vendorAMD:
		if driver == driverMesaRADV {
			return true, "AMD with RADV"
		}
		if driver == driverAMDProprietary || driver == driverAMDOpenSource {
			for _, s := range []string{"rx 7", "radeon 7", "gfx11", "w7", "780m", "760m", "890m", "880m"} {
				if strings.Contains(lname, s) {
					return true, "AMD RDNA3 on AMD's driver"
				}
			}
			return false, "AMD's driver reports coopmat on GPUs before RDNA3 without matrix units"
		}
		return true, "AMD"
	case vendorIntel:
		for _, s := range []string{"arc(tm) b", "arc b", "b580", "b570", "lunar lake", "battlemage", "xe2", "140v", "130v"} {
			if strings.Contains(lname, s) {
				return true, "Intel Xe2"
			}
		}
		return false, "Intel before Xe2 reports coopmat without a fast path"
	case vendorMesa:
		return true, "Mesa software driver (correctness only)"
	}
	return true, fmt.Sprintf("vendor 0x%04x", vendor)
}

// deviceExtensions lists a physical device's extensions.
func deviceExtensions(h vk.PhysicalDevice) map[string]bool {
	out := map[string]bool{}
	var n uint32
	if vk.EnumerateDeviceExtensionProperties(h, "", &n, nil) != vk.Success || n == 0 {
		return out
	}
	props := make([]vk.ExtensionProperties, n)
	if vk.EnumerateDeviceExtensionProperties(h, "", &n, props) != vk.Success {
		return out
	}
	for i := range props[:n] {
		props[i].Deref()
		out[vk.ToString(props[i].ExtensionName[:])] = true
	}
	return out
}

// maxCoopMatShapes bounds the property list read from a driver.
const maxCoopMatShapes = 64

// readFeatures fills the fp16, memory-model and cooperative-matrix fields of
// info. eff is the Vulkan version usable with the instance (≤ 1.2).
func readFeatures(gipa C.PFN_vkGetInstanceProcAddr, inst vk.Instance, h vk.PhysicalDevice, eff uint32, info *DeviceInfo) {
	exts := deviceExtensions(h)
	hasCM := exts["VK_KHR_cooperative_matrix"]
	cmExt := C.int(0)
	if hasCM {
		cmExt = 1
	}
	var f C.vkd_features
	C.vkd_get_features(gipa, cInstance(inst), cPhys(h), C.uint32_t(eff), cmExt, &f)
	info.ShaderFloat16 = f.shaderFloat16 != 0
	info.StorageBuffer16Bit = f.storageBuffer16BitAccess != 0
	info.VulkanMemoryModel = f.vulkanMemoryModel != 0
	if f.cooperativeMatrix == 0 {
		info.CoopMatNote = "no VK_KHR_cooperative_matrix"
		return
	}
	shapes := make([]C.vkd_cm_shape, maxCoopMatShapes)
	var n C.uint32_t
	if r := C.vkd_coopmat_shapes(gipa, cInstance(inst), cPhys(h), &shapes[0], maxCoopMatShapes, &n); r != 0 {
		info.CoopMatNote = fmt.Sprintf("vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR failed (%d)", int(r))
		return
	}
	for _, s := range shapes[:n] {
		info.CoopMatShapes = append(info.CoopMatShapes, CoopMatShape{
			M: uint32(s.m), N: uint32(s.n), K: uint32(s.k),
			A: ComponentType(s.a), B: ComponentType(s.b), C: ComponentType(s.c), Result: ComponentType(s.result),
			Saturating: s.saturating != 0, Scope: Scope(s.scope),
		})
	}
	trusted, why := coopMatPolicy(info.VendorID, info.DriverID, info.Name)
	switch {
	case !trusted:
		info.CoopMatNote = "not used: " + why
	case !info.VulkanMemoryModel || !info.ShaderFloat16 || !info.StorageBuffer16Bit:
		info.CoopMatNote = "not used: needs vulkanMemoryModel, shaderFloat16 and storageBuffer16BitAccess"
	case len(info.HalfFloatShapes()) == 0:
		info.CoopMatNote = "not used: no fp16*fp16+fp32 subgroup shape"
	default:
		info.CoopMat = true
		info.CoopMatNote = why
	}
}

// FP16 reports whether the device can run vkdeit's fp16 kernels: fp16
// arithmetic (shaderFloat16) and fp16 values in storage buffers
// (storageBuffer16BitAccess).
func (i DeviceInfo) FP16() bool { return i.ShaderFloat16 && i.StorageBuffer16Bit }

// HalfFloatShapes returns the fp16×fp16→fp32 subgroup shapes among
// CoopMatShapes, in the driver's order.
func (i DeviceInfo) HalfFloatShapes() []CoopMatShape {
	var out []CoopMatShape
	for _, s := range i.CoopMatShapes {
		if s.HalfFloat() {
			out = append(out, s)
		}
	}
	return out
}
