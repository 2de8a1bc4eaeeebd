package gpu

/*
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// The Vulkan pipeline cache lets a driver skip compiling a pipeline it has
// compiled before: with Options.CacheDir set, a device creates its
// VkPipelineCache from the bytes saved beside the tuning file, builds every
// pipeline through it, and saves the cache's bytes back when it closes if
// it built pipelines the saved bytes may lack. So the second start of a
// process on the same device, driver and vkdeit build compiles nothing the
// first one compiled.
//
// The file (pipelines-VENDOR-DEVICE-HASH.bin, named by the tuning's key) is
// the driver's bytes behind a header of vkdeit's own:
//
//	offset  size  field
//	0       8     magic "vkdeitpc"
//	8       4     format (1), little-endian like the rest of the header
//	12      4     zero
//	16      8     the cache key's hash (keyHash)
//	24      8     length of the driver's bytes
//	32      8     FNV-1a 64 of the driver's bytes
//	40      ...   the driver's bytes (vkGetPipelineCacheData)
//
// A file whose header does not match — another key, a length or checksum
// that disagree with its bytes (a torn or corrupt file), or driver bytes
// whose VkPipelineCacheHeaderVersionOne names another vendor, device or
// pipelineCacheUUID — is ignored with a note to Options.Log: drivers
// validate the header too, but nothing forces them to survive corrupt
// bytes after it.

// pipelineCache is a device's VkPipelineCache and what it came from.
// Guarded by Device.mu (pipelines are built under it); Close reads it once
// every other call has returned.
type pipelineCache struct {
	handle C.VkPipelineCache // VK_NULL_HANDLE without a cache directory
	path   string            // the file it is loaded from and saved to
	loaded int               // bytes of driver data it was created with
	sum    uint64            // their FNV-1a, to skip saving unchanged bytes
	built  int               // pipelines created since the device opened
}

const (
	pipelineCacheMagic  = "vkdeitpc"
	pipelineCacheFormat = 1
	pipelineCacheHeader = 40
	// maxPipelineCacheFile bounds the bytes read from a pipeline cache
	// file. vkdeit builds a few hundred pipelines at most (every kernel
	// family, variant and tuned tiling); drivers store from a few KiB
	// (lavapipe: its LLVM code) to about a MiB per pipeline.
	maxPipelineCacheFile = 256 << 20
)

// PipelineCachePath is the file under dir that holds the Vulkan pipeline
// cache of the device described by info (pipelines-VENDOR-DEVICE-HASH.bin,
// keyed as TuningPath is).
func PipelineCachePath(dir string, info DeviceInfo) string {
	return filepath.Join(dir, cacheName("pipelines", info)+".bin")
}

// openPipelineCache creates the device's pipeline cache from the file for
// it under dir, when dir is set. Problems are notes, never errors: without
// a cache every pipeline is simply compiled.
func (d *Device) openPipelineCache(dir string) {
	if dir == "" {
		return
	}
	d.pcache.path = PipelineCachePath(dir, d.info)
	data, err := d.readPipelineCache(d.pcache.path)
	if err != nil {
		d.note("pipeline cache: ignored %s: %v", d.pcache.path, err)
		data = nil
	}
	var h C.VkPipelineCache
	r := d.createPipelineCache(data, &h)
	if r != C.VK_SUCCESS && len(data) > 0 {
		d.note("pipeline cache: the driver refused %s (%v); starting an empty cache", d.pcache.path, vkErr("creating pipeline cache", vk.Result(r)))
		data = nil
		r = d.createPipelineCache(nil, &h)
	}
	if r != C.VK_SUCCESS {
		d.note("pipeline cache: none (%v)", vkErr("creating pipeline cache", vk.Result(r)))
		return
	}
	d.pcache.handle = h
	d.pcache.loaded = len(data)
	if len(data) > 0 {
		d.pcache.sum = hashCode(data)
	}
}

// createPipelineCache calls vkCreatePipelineCache with data as its initial
// data.
func (d *Device) createPipelineCache(data []byte, out *C.VkPipelineCache) C.VkResult {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return C.vkd_pipeline_cache_create(d.fns, cDevice(d.dev), p, C.size_t(len(data)), out)
}

// readPipelineCache returns the driver bytes of the file at path, nil when
// there is none, or why the file is unusable.
func (d *Device) readPipelineCache(path string) ([]byte, error) {
	b, err := regfile.ReadFile(path, maxPipelineCacheFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parsePipelineCache(b, d.info)
}

// parsePipelineCache checks a pipeline cache file's header (vkdeit's and
// the driver's) against the device described by info and returns the
// driver's bytes.
func parsePipelineCache(b []byte, info DeviceInfo) ([]byte, error) {
	le := binary.LittleEndian
	switch {
	case len(b) < pipelineCacheHeader || string(b[:8]) != pipelineCacheMagic:
		return nil, errors.New("corrupt (not a vkdeit pipeline cache)")
	case le.Uint32(b[8:]) != pipelineCacheFormat:
		return nil, fmt.Errorf("format %d, this build reads %d", le.Uint32(b[8:]), pipelineCacheFormat)
	case le.Uint64(b[16:]) != keyHash(info):
		return nil, errors.New("made for another device, driver or vkdeit build")
	}
	data := b[pipelineCacheHeader:]
	if n := le.Uint64(b[24:]); n != uint64(len(data)) {
		return nil, fmt.Errorf("corrupt (%d bytes of driver data, the header says %d)", len(data), n)
	}
	if le.Uint64(b[32:]) != hashCode(data) {
		return nil, errors.New("corrupt (checksum mismatch)")
	}
	if err := checkDriverHeader(data, info); err != nil {
		return nil, err
	}
	return data, nil
}

// checkDriverHeader checks the VkPipelineCacheHeaderVersionOne that starts
// a driver's pipeline cache data (host byte order): header size, version
// 1, and the device's vendor, device and pipelineCacheUUID.
func checkDriverHeader(data []byte, info DeviceInfo) error {
	const one = 32 // sizeof(VkPipelineCacheHeaderVersionOne)
	ne := binary.NativeEndian
	if len(data) < one {
		return fmt.Errorf("corrupt (%d bytes of driver data, shorter than the Vulkan header)", len(data))
	}
	if size := ne.Uint32(data); size < one || int(size) > len(data) || ne.Uint32(data[4:]) != 1 {
		return errors.New("corrupt (not a version-one Vulkan pipeline cache header)")
	}
	if ne.Uint32(data[8:]) != info.VendorID || ne.Uint32(data[12:]) != info.DeviceID || !bytes.Equal(data[16:32], info.PipelineCacheUUID[:]) {
		return fmt.Errorf("made for another device or driver (vendor %#x, device %#x)", ne.Uint32(data[8:]), ne.Uint32(data[12:]))
	}
	return nil
}

// encodePipelineCache is the file holding data for the device described by
// info.
func encodePipelineCache(data []byte, info DeviceInfo) []byte {
	le := binary.LittleEndian
	b := make([]byte, pipelineCacheHeader, pipelineCacheHeader+len(data))
	copy(b, pipelineCacheMagic)
	le.PutUint32(b[8:], pipelineCacheFormat)
	le.PutUint64(b[16:], keyHash(info))
	le.PutUint64(b[24:], uint64(len(data)))
	le.PutUint64(b[32:], hashCode(data))
	return append(b, data...)
}

// closePipelineCache saves the cache's bytes when the device built
// pipelines and they changed, then destroys it. Saving goes through a
// temporary file renamed over the old one (writeAtomic): a concurrent
// reader sees the old file or the new one, and of two processes saving at
// once the last rename wins. Failures are notes: Close still succeeds.
func (d *Device) closePipelineCache() {
	pc := &d.pcache
	if pc.handle == nil {
		return
	}
	defer func() {
		C.vkd_pipeline_cache_destroy(d.fns, cDevice(d.dev), pc.handle)
		pc.handle = nil
	}()
	if pc.built == 0 {
		return
	}
	data, err := d.pipelineCacheData()
	if err != nil {
		d.note("pipeline cache: not saved: %v", err)
		return
	}
	if len(data) == pc.loaded && hashCode(data) == pc.sum {
		return // every pipeline came from the cache
	}
	if err := os.MkdirAll(filepath.Dir(pc.path), 0o755); err != nil {
		d.note("pipeline cache: not saved: %v", err)
		return
	}
	if err := writeAtomic(pc.path, encodePipelineCache(data, d.info)); err != nil {
		d.note("pipeline cache: not saved: %v", err)
	}
}

// pipelineCacheData reads the cache's bytes (vkGetPipelineCacheData).
func (d *Device) pipelineCacheData() ([]byte, error) {
	for range 4 { // the size can grow between the calls only if pipelines are built meanwhile
		var n C.size_t
		if r := C.vkd_pipeline_cache_data(d.fns, cDevice(d.dev), d.pcache.handle, &n, nil); r != C.VK_SUCCESS {
			return nil, vkErr("reading pipeline cache size", vk.Result(r))
		}
		if n == 0 || n > maxPipelineCacheFile-pipelineCacheHeader {
			return nil, fmt.Errorf("the driver's pipeline cache has %d bytes (want 1..%d)", n, maxPipelineCacheFile-pipelineCacheHeader)
		}
		data := make([]byte, n)
		r := C.vkd_pipeline_cache_data(d.fns, cDevice(d.dev), d.pcache.handle, &n, unsafe.Pointer(&data[0]))
		if r == C.VK_SUCCESS {
			return data[:n], nil
		}
		if r != C.VK_INCOMPLETE {
			return nil, vkErr("reading pipeline cache", vk.Result(r))
		}
	}
	return nil, errors.New("reading pipeline cache: its size kept changing")
}

// note writes one of the package's notes to Options.Log.
func (d *Device) note(format string, args ...any) {
	fmt.Fprintf(d.log, "gpu: "+format+"\n", args...)
}
