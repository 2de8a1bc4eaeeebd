package gpu

/*
#include "shim.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strings"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Kernel describes a compute shader: its SPIR-V, the storage buffers it
// binds (set 0, bindings 0..Bindings-1, in Dispatch argument order) and the
// size of its push-constant block.
type Kernel struct {
	Name      string // names the kernel in errors and the pipeline cache
	SPIRV     []byte // compiled module with entry point "main"
	Bindings  int    // storage buffers at set 0, bindings 0..Bindings-1
	PushBytes int    // push-constant block size in bytes (multiple of 4)
}

// Pipeline is a compute pipeline built from a Kernel and specialization
// constants. Pipelines are cached per device and live until it closes.
type Pipeline struct {
	d         *Device
	kernel    Kernel
	codeHash  uint64 // FNV-1a of the SPIR-V: one name, one shader
	spec      []uint32
	setLayout vk.DescriptorSetLayout
	layout    vk.PipelineLayout
	module    vk.ShaderModule
	pipe      vk.Pipeline
	// writable[i] reports whether binding i may be written by the shader
	// (not declared readonly). Hazard tracking treats such bindings as
	// writes whatever the Arg says, as the synchronization validator does.
	writable []bool
}

// Pipeline returns the compute pipeline for k with specialization constant
// constant_id i set to spec[i] (4 bytes each), building it on first use and
// returning the cached one for the same (k.Name, spec) afterwards.
func (d *Device) Pipeline(k Kernel, spec ...uint32) (*Pipeline, error) {
	var key strings.Builder
	key.WriteString(k.Name)
	for _, v := range spec {
		fmt.Fprintf(&key, "/%d", v)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, &closedError{"kernel " + k.Name}
	}
	if p, ok := d.pipelines[key.String()]; ok {
		if p.codeHash != hashCode(k.SPIRV) {
			return nil, fmt.Errorf("gpu: kernel %s: a different shader was already built under this name", k.Name)
		}
		if p.kernel.Bindings != k.Bindings || p.kernel.PushBytes != k.PushBytes {
			return nil, fmt.Errorf("gpu: kernel %s: cached with %d bindings and %d push bytes, asked for %d and %d",
				k.Name, p.kernel.Bindings, p.kernel.PushBytes, k.Bindings, k.PushBytes)
		}
		return p, nil
	}
	p, err := d.buildPipeline(k, spec)
	if err != nil {
		return nil, fmt.Errorf("gpu: kernel %s: %w", k.Name, err)
	}
	d.pipelines[key.String()] = p
	return p, nil
}

func (d *Device) buildPipeline(k Kernel, spec []uint32) (*Pipeline, error) {
	if k.Bindings < 0 || k.Bindings > 32 {
		return nil, fmt.Errorf("%d bindings (want 0..32)", k.Bindings)
	}
	if k.PushBytes < 0 || k.PushBytes%4 != 0 || k.PushBytes > d.maxPush {
		return nil, fmt.Errorf("push constant size %d must be a multiple of 4 in [0, %d]", k.PushBytes, d.maxPush)
	}
	if len(spec) > 64 {
		return nil, fmt.Errorf("%d specialization constants (at most 64)", len(spec))
	}
	code, err := spirvWords(k.SPIRV)
	if err != nil {
		return nil, err
	}
	used, readonly := spirvBindings(code)
	writable := make([]bool, k.Bindings)
	for b := range used {
		if b >= k.Bindings {
			return nil, fmt.Errorf("shader uses binding %d but the kernel declares %d bindings", b, k.Bindings)
		}
	}
	for i := range writable {
		writable[i] = used[i] && !readonly[i]
	}
	p := &Pipeline{d: d, kernel: k, codeHash: hashCode(k.SPIRV), spec: append([]uint32(nil), spec...), writable: writable}
	p.kernel.SPIRV = nil // not needed once built

	bindings := make([]vk.DescriptorSetLayoutBinding, k.Bindings)
	for i := range bindings {
		bindings[i] = vk.DescriptorSetLayoutBinding{
			Binding:         uint32(i),
			DescriptorType:  vk.DescriptorTypeStorageBuffer,
			DescriptorCount: 1,
			StageFlags:      vk.ShaderStageFlags(vk.ShaderStageComputeBit),
		}
	}
	dci := &vk.DescriptorSetLayoutCreateInfo{
		SType:        vk.StructureTypeDescriptorSetLayoutCreateInfo,
		BindingCount: uint32(len(bindings)),
		PBindings:    bindings,
	}
	var setLayout vk.DescriptorSetLayout
	r := vk.CreateDescriptorSetLayout(d.dev, dci, nil, &setLayout)
	p.setLayout = setLayout
	dci.Free()
	if r != vk.Success {
		return nil, vkErr("creating descriptor set layout", r)
	}
	lci := &vk.PipelineLayoutCreateInfo{
		SType:          vk.StructureTypePipelineLayoutCreateInfo,
		SetLayoutCount: 1,
		PSetLayouts:    []vk.DescriptorSetLayout{p.setLayout},
	}
	if k.PushBytes > 0 {
		lci.PushConstantRangeCount = 1
		lci.PPushConstantRanges = []vk.PushConstantRange{{
			StageFlags: vk.ShaderStageFlags(vk.ShaderStageComputeBit),
			Offset:     0,
			Size:       uint32(k.PushBytes),
		}}
	}
	var layout vk.PipelineLayout
	r = vk.CreatePipelineLayout(d.dev, lci, nil, &layout)
	p.layout = layout
	lci.Free()
	if r != vk.Success {
		p.destroy(d)
		return nil, vkErr("creating pipeline layout", r)
	}
	sci := &vk.ShaderModuleCreateInfo{
		SType:    vk.StructureTypeShaderModuleCreateInfo,
		CodeSize: uint(len(code) * 4),
		PCode:    code,
	}
	var module vk.ShaderModule
	r = vk.CreateShaderModule(d.dev, sci, nil, &module)
	p.module = module
	sci.Free()
	if r != vk.Success {
		p.destroy(d)
		return nil, vkErr("creating shader module", r)
	}
	var pipe C.VkPipeline
	var specPtr *C.uint32_t
	cspec := make([]C.uint32_t, len(spec))
	for i, v := range spec {
		cspec[i] = C.uint32_t(v)
	}
	if len(cspec) > 0 {
		specPtr = &cspec[0]
	}
	r = vk.Result(C.vkd_create_pipeline(d.fns, cDevice(d.dev), d.pcache.handle, cModule(p.module), cLayout(p.layout), C.uint32_t(len(spec)), specPtr, &pipe))
	if r != vk.Success {
		p.destroy(d)
		return nil, vkErr("creating compute pipeline", r)
	}
	p.pipe = vk.Pipeline(unsafe.Pointer(pipe))
	d.pcache.built++
	return p, nil
}

func (p *Pipeline) destroy(d *Device) {
	if p.pipe != nil {
		vk.DestroyPipeline(d.dev, p.pipe, nil)
	}
	if p.module != nil {
		vk.DestroyShaderModule(d.dev, p.module, nil)
	}
	if p.layout != nil {
		vk.DestroyPipelineLayout(d.dev, p.layout, nil)
	}
	if p.setLayout != nil {
		vk.DestroyDescriptorSetLayout(d.dev, p.setLayout, nil)
	}
}

// hashCode returns the 64-bit FNV-1a hash of b (a shader, a pipeline
// cache's bytes).
func hashCode(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// spirvWords checks the SPIR-V header and returns the module as words.
func spirvWords(b []byte) ([]uint32, error) {
	if len(b) < 20 || len(b)%4 != 0 {
		return nil, fmt.Errorf("SPIR-V of %d bytes is not a whole module", len(b))
	}
	if binary.LittleEndian.Uint32(b) != 0x07230203 {
		return nil, fmt.Errorf("not SPIR-V (bad magic number %#x)", binary.LittleEndian.Uint32(b))
	}
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w, nil
}

// spirvBindings scans a module for the buffers bound at descriptor set 0:
// which bindings are used and which are declared readonly (NonWritable on
// the variable or on every member of its block).
func spirvBindings(code []uint32) (used map[int]bool, readonly map[int]bool) {
	const (
		opTypeStruct     = 30
		opTypePointer    = 32
		opVariable       = 59
		opDecorate       = 71
		opMemberDecorate = 72
		decNonWritable   = 24
		decBinding       = 33
		decSet           = 34
	)
	binding := map[uint32]int{}
	set := map[uint32]int{}
	nonWritable := map[uint32]bool{}
	memberNW := map[uint32]map[uint32]bool{}
	members := map[uint32]int{}
	pointee := map[uint32]uint32{}
	varType := map[uint32]uint32{}
	for i := 5; i < len(code); {
		n := int(code[i] >> 16)
		op := code[i] & 0xffff
		if n == 0 || i+n > len(code) {
			break
		}
		ins := code[i : i+n]
		switch {
		case op == opDecorate && n >= 3:
			switch ins[2] {
			case decBinding:
				if n >= 4 {
					binding[ins[1]] = int(ins[3])
				}
			case decSet:
				if n >= 4 {
					set[ins[1]] = int(ins[3])
				}
			case decNonWritable:
				nonWritable[ins[1]] = true
			}
		case op == opMemberDecorate && n >= 4 && ins[3] == decNonWritable:
			if memberNW[ins[1]] == nil {
				memberNW[ins[1]] = map[uint32]bool{}
			}
			memberNW[ins[1]][ins[2]] = true
		case op == opTypeStruct && n >= 2:
			members[ins[1]] = n - 2
		case op == opTypePointer && n >= 4:
			pointee[ins[1]] = ins[3]
		case op == opVariable && n >= 3:
			varType[ins[2]] = ins[1]
		}
		i += n
	}
	used = map[int]bool{}
	readonly = map[int]bool{}
	for v, b := range binding {
		if set[v] != 0 {
			continue
		}
		used[b] = true
		ro := nonWritable[v]
		if st, ok := pointee[varType[v]]; ok && !ro {
			if m := members[st]; m > 0 && len(memberNW[st]) == m {
				ro = true
			}
		}
		readonly[b] = ro
	}
	return used, readonly
}
