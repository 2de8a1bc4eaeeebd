package gpu

/*
#include "shim.h"
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"io"
	"strings"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// instance is a created Vulkan instance plus what was enabled on it.
type instance struct {
	handle     vk.Instance
	validation bool
	vlog       *C.vkd_log
	messenger  C.VkDebugUtilsMessengerEXT
}

// newInstance creates a Vulkan instance, with the validation layer and a
// message collector when validation is asked for and installed, and the
// extensions in extra (an error names those the loader lacks).
func newInstance(gipa C.PFN_vkGetInstanceProcAddr, validation bool, extra []string, log io.Writer) (*instance, error) {
	inst := &instance{}
	var layers, exts []string
	if len(extra) > 0 {
		have := instanceExtensions("")
		var missing []string
		for _, e := range extra {
			if !have[e] {
				missing = append(missing, e)
			}
			exts = append(exts, cstr(e))
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("gpu: the Vulkan loader lacks instance extension(s) %s", strings.Join(missing, ", "))
		}
	}
	var pnext unsafe.Pointer
	if validation {
		const layer = "VK_LAYER_KHRONOS_validation"
		if !hasLayer(layer) {
			fmt.Fprintf(log, "gpu: validation requested but %s is not installed (Debian: vulkan-validationlayers); running without it\n", layer)
		} else {
			layers = append(layers, cstr(layer))
			lexts := instanceExtensions(layer)
			if !lexts["VK_EXT_debug_utils"] && !instanceExtensions("")["VK_EXT_debug_utils"] {
				fmt.Fprintf(log, "gpu: VK_EXT_debug_utils missing: validation messages cannot be captured\n")
			} else {
				exts = append(exts, cstr("VK_EXT_debug_utils"))
				inst.validation = true
				inst.vlog = C.vkd_log_new()
				syncval := 0
				if lexts["VK_EXT_validation_features"] {
					exts = append(exts, cstr("VK_EXT_validation_features"))
					syncval = 1
				}
				pnext = C.vkd_instance_pnext(inst.vlog, C.int(syncval))
			}
		}
	}
	app := &vk.ApplicationInfo{
		SType:              vk.StructureTypeApplicationInfo,
		PApplicationName:   cstr("vkdeit"),
		ApplicationVersion: vk.MakeVersion(0, 1, 0),
		PEngineName:        cstr("vkdeit"),
		EngineVersion:      vk.MakeVersion(0, 1, 0),
		ApiVersion:         vk.MakeVersion(1, 2, 0),
	}
	ci := &vk.InstanceCreateInfo{
		SType:                   vk.StructureTypeInstanceCreateInfo,
		PNext:                   pnext,
		PApplicationInfo:        app,
		EnabledLayerCount:       uint32(len(layers)),
		PpEnabledLayerNames:     layers,
		EnabledExtensionCount:   uint32(len(exts)),
		PpEnabledExtensionNames: exts,
	}
	vulkanLib.instMu.Lock()
	var handle vk.Instance
	r := vk.CreateInstance(ci, nil, &handle)
	inst.handle = handle
	if r == vk.Success {
		r2 := vk.InitInstance(inst.handle)
		if r2 != nil {
			vk.DestroyInstance(inst.handle, nil)
			r = vk.ErrorInitializationFailed
		}
	}
	vulkanLib.instMu.Unlock()
	ci.Free()
	if pnext != nil {
		C.free(pnext)
	}
	if r != vk.Success {
		if inst.vlog != nil {
			C.vkd_log_free(inst.vlog)
		}
		return nil, vkErr("creating Vulkan instance", r)
	}
	if inst.validation {
		var m C.VkDebugUtilsMessengerEXT
		r := C.vkd_messenger_create(gipa, cInstance(inst.handle), inst.vlog, &m)
		inst.messenger = m
		if r != C.VK_SUCCESS {
			inst.destroy(gipa)
			C.vkd_log_free(inst.vlog)
			return nil, vkErr("creating debug messenger", vk.Result(r))
		}
	}
	return inst, nil
}

// destroy destroys the instance and its messenger; messages reported during
// destruction stay in vlog, which the caller frees.
func (inst *instance) destroy(gipa C.PFN_vkGetInstanceProcAddr) {
	vulkanLib.instMu.Lock()
	defer vulkanLib.instMu.Unlock()
	if inst.messenger != nil {
		C.vkd_messenger_destroy(gipa, cInstance(inst.handle), inst.messenger)
		inst.messenger = nil
	}
	vk.DestroyInstance(inst.handle, nil)
}

func hasLayer(name string) bool {
	var n uint32
	if vk.EnumerateInstanceLayerProperties(&n, nil) != vk.Success || n == 0 {
		return false
	}
	props := make([]vk.LayerProperties, n)
	if vk.EnumerateInstanceLayerProperties(&n, props) != vk.Success {
		return false
	}
	for i := range props[:n] {
		props[i].Deref()
		if vk.ToString(props[i].LayerName[:]) == name {
			return true
		}
	}
	return false
}

// instanceExtensions lists the instance extensions of a layer ("" for the
// loader and drivers).
func instanceExtensions(layer string) map[string]bool {
	out := map[string]bool{}
	var name string
	if layer != "" {
		name = cstr(layer)
	}
	var n uint32
	if vk.EnumerateInstanceExtensionProperties(name, &n, nil) != vk.Success || n == 0 {
		return out
	}
	props := make([]vk.ExtensionProperties, n)
	if vk.EnumerateInstanceExtensionProperties(name, &n, props) != vk.Success {
		return out
	}
	for i := range props[:n] {
		props[i].Deref()
		out[vk.ToString(props[i].ExtensionName[:])] = true
	}
	return out
}

// ValidationMessages returns every warning and error the validation layer
// has reported on this device so far, including those reported while
// closing it (leaked objects). It is empty when validation is off.
func (d *Device) ValidationMessages() []string {
	d.msgMu.Lock()
	defer d.msgMu.Unlock()
	d.drainLocked()
	return append([]string(nil), d.msgs...)
}

// drainLocked moves messages from the C collector into d.msgs.
func (d *Device) drainLocked() {
	if d.vlog == nil {
		return
	}
	var buf *C.char
	n := C.vkd_log_take(d.vlog, &buf)
	if buf == nil {
		return
	}
	data := C.GoBytes(unsafe.Pointer(buf), C.int(n))
	C.free(unsafe.Pointer(buf))
	for _, m := range strings.Split(string(data), "\x00") {
		if m != "" {
			d.msgs = append(d.msgs, m)
		}
	}
}
