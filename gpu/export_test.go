package gpu

import "context"

// Staging makes opts open the device as if it were a discrete GPU: buffers
// unmapped, Write and Read through staging copies.
func Staging(opts Options) Options {
	opts.ForceStaging = true
	return opts
}

// PipelineCacheLoaded reports how many bytes of driver data the device's
// pipeline cache was created with (0: none, or no cache directory).
func (d *Device) PipelineCacheLoaded() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pcache.loaded
}

// PipelinesBuilt reports how many pipelines the device has created.
func (d *Device) PipelinesBuilt() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pcache.built
}

// EncodePipelineCache is the pipeline cache file holding data for the
// device described by info.
var EncodePipelineCache = encodePipelineCache

// DescriptorPools reports how many descriptor pools s has created.
func (s *Sequence) DescriptorPools() int { return len(s.descPools) }

// StorageAlign is the device's binding offset alignment.
func (d *Device) StorageAlign() int64 { return d.storageAlign }

// Blocks reports how many memory blocks d holds.
func (d *Device) Blocks() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.blocks)
}

// HeadlessSurface is an Options.Surface callback for VK_EXT_headless_surface
// (enable HeadlessExtensions): presentation without a window system.
var HeadlessSurface = headlessSurface

// HeadlessExtensions are the instance extensions HeadlessSurface needs.
var HeadlessExtensions = []string{"VK_KHR_surface", "VK_EXT_headless_surface"}

// Capture makes every later Present of s also copy the swapchain image back
// into host memory, for Captured; Resize turns it off.
func (s *Swapchain) Capture() error {
	w, h := s.Size()
	b, err := s.d.NewStagingBuffer(int64(w) * int64(h) * 4)
	s.capture = b
	return err
}

// Captured waits for the last Present and returns a copy of the swapchain
// image it wrote, in the swapchain's byte order, with whether that is BGRA.
func (s *Swapchain) Captured() (pix []byte, bgra bool, err error) {
	if err := s.wait(); err != nil {
		return nil, false, err
	}
	return append([]byte(nil), s.capture.Mapped()...), s.bgra(), nil
}

// TuneCandidatesForTest measures exactly cands (cands[0] standing for the
// heuristic) on shape s, as Tune does after enumerating and pruning.
func TuneCandidatesForTest(ctx context.Context, d *Device, s Shape, cands []KernelConfig, opts TuneOptions) (ShapeResult, error) {
	o, err := NewOps(d)
	if err != nil {
		return ShapeResult{}, err
	}
	if opts.Runs <= 0 {
		opts.Runs = 5
	}
	return o.tuneShape(ctx, s, cands, opts, func(Candidate) {})
}

// ParsePipelineCache checks a pipeline cache file against the device
// described by info and returns the driver's bytes.
var ParsePipelineCache = parsePipelineCache
