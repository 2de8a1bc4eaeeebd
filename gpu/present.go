package gpu

/*
#include "present.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Presentation: a device opened with Options.Surface shows frames in a
// window through a Vulkan swapchain. A frame is an RGBA image drawn on the
// host; Present writes it into a host-visible buffer and copies it into the
// next swapchain image with one buffer→image copy on the device's queue, so
// no graphics pipeline is involved and the device that runs the kernels is
// the one that presents.

// swapchainExtension is the device extension presentation needs.
const swapchainExtension = "VK_KHR_swapchain"

// ErrOutOfDate is wrapped by Present's error when the surface changed (the
// window was resized) so that the swapchain no longer matches it: call
// Resize with the window's new size and draw the frame again.
var ErrOutOfDate = errors.New("gpu: swapchain out of date")

// createSurface calls the Options.Surface callback on the new instance.
func (d *Device) createSurface(create func(instance unsafe.Pointer) (uintptr, error)) error {
	s, err := create(unsafe.Pointer(d.instance))
	if err != nil {
		return fmt.Errorf("gpu: creating the window surface: %w", err)
	}
	if s == 0 {
		return errors.New("gpu: creating the window surface: the callback returned a null surface")
	}
	d.surface = uint64(s)
	return nil
}

// checkPresent checks that the chosen device has VK_KHR_swapchain and that
// its queue can present to d.surface.
func (d *Device) checkPresent() error {
	if !deviceExtensions(d.phys)[swapchainExtension] {
		return fmt.Errorf("gpu: %s cannot present: it lacks %s", d.info.Name, swapchainExtension)
	}
	var ok C.int
	r := vk.Result(C.vkd_surface_support(d.gipa, cInstance(d.instance), cPhys(d.phys), C.uint32_t(d.family), C.uint64_t(d.surface), &ok))
	if r != vk.Success {
		return vkErr("querying presentation support of "+d.info.Name, r)
	}
	if ok == 0 {
		return fmt.Errorf("gpu: %s cannot present to the window from its compute queue (family %d); choose another device", d.info.Name, d.family)
	}
	return nil
}

// destroySurface destroys the surface, if any; the device is gone already.
func (d *Device) destroySurface() {
	if d.surface != 0 {
		C.vkd_surface_destroy(d.gipa, cInstance(d.instance), C.uint64_t(d.surface))
		d.surface = 0
	}
}

// headlessSurface is an Options.Surface callback making a VK_EXT_headless_surface
// surface (Mesa's drivers offer it): presentation without a window system,
// for tests.
func headlessSurface(instance unsafe.Pointer) (uintptr, error) {
	gipa, err := loadVulkan()
	if err != nil {
		return 0, err
	}
	var s C.uint64_t
	if r := vk.Result(C.vkd_headless_surface(gipa, C.VkInstance(instance), &s)); r != vk.Success {
		return 0, vkErr("creating a headless surface", r)
	}
	return uintptr(s), nil
}

// Swapchain shows RGBA frames on the device's surface. Frames go through a
// host-visible buffer and one copy per frame; at most one frame is in
// flight. A Swapchain is used by one goroutine at a time; Close it before
// the device, or Device.Close frees it.
type Swapchain struct {
	d       *Device
	c       *C.vkd_swapchain
	staging *Buffer
	capture *Buffer // tests: receives each presented image back (export_test.go)
	closed  bool
}

// NewSwapchain creates a swapchain for the device's surface (Options.Surface)
// of width×height pixels, or of the surface's own size where the window
// system imposes one (X11 and Wayland windows do): Size says which.
func (d *Device) NewSwapchain(width, height int) (*Swapchain, error) {
	if err := d.enter("NewSwapchain"); err != nil {
		return nil, err
	}
	defer d.leave()
	if d.surface == 0 {
		return nil, errors.New("gpu: NewSwapchain: the device was opened without a surface (Options.Surface)")
	}
	s := &Swapchain{d: d}
	if err := s.create(width, height); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.swaps[s] = struct{}{}
	d.mu.Unlock()
	return s, nil
}

// create makes the C swapchain and its staging buffer; the caller has
// entered the device.
func (s *Swapchain) create(width, height int) error {
	if width <= 0 || height <= 0 || width > 1<<15 || height > 1<<15 {
		return fmt.Errorf("gpu: swapchain size %dx%d: want 1 to 32768 pixels a side", width, height)
	}
	d := s.d
	var r C.VkResult
	var what *C.char
	d.queueMu.Lock() // the swapchain will submit to d.queue
	c := C.vkd_swapchain_new(d.gipa, cInstance(d.instance), cPhys(d.phys), cDevice(d.dev), cQueue(d.queue),
		C.uint32_t(d.family), C.uint64_t(d.surface), C.uint32_t(width), C.uint32_t(height), &r, &what)
	d.queueMu.Unlock()
	if c == nil {
		err := vkErr("creating swapchain: "+C.GoString(what), vk.Result(r))
		if vk.Result(r) == vk.ErrorOutOfDate {
			err = fmt.Errorf("%w: %w", err, ErrOutOfDate)
		}
		return err
	}
	st, err := d.NewStagingBuffer(int64(c.width) * int64(c.height) * 4)
	if err != nil {
		d.queueMu.Lock()
		C.vkd_swapchain_free(c)
		d.queueMu.Unlock()
		return fmt.Errorf("gpu: swapchain staging buffer: %w", err)
	}
	s.c, s.staging = c, st
	return nil
}

// Size returns the swapchain's size in pixels: the size Present wants.
func (s *Swapchain) Size() (width, height int) {
	if s.c == nil {
		return 0, 0
	}
	return int(s.c.width), int(s.c.height)
}

// Resize recreates the swapchain for a window now width×height pixels;
// frames already presented are finished first.
func (s *Swapchain) Resize(width, height int) error {
	if err := s.d.enter("Resize"); err != nil {
		return err
	}
	defer s.d.leave()
	if err := s.live("Resize"); err != nil {
		return err
	}
	s.free()
	return s.create(width, height)
}

// Present shows frame, which must be exactly Size() pixels (its Rect may
// start anywhere). It waits for the previous frame's copy, writes frame
// into the staging buffer, and queues the copy and the presentation without
// waiting for them. When the window changed size the error wraps
// ErrOutOfDate (the frame may or may not have been shown). The frame's
// alpha is passed on; windows ignore it.
func (s *Swapchain) Present(frame *image.RGBA) error {
	if err := s.d.enter("Present"); err != nil {
		return err
	}
	defer s.d.leave()
	if err := s.live("Present"); err != nil {
		return err
	}
	w, h := s.Size()
	if frame == nil || frame.Rect.Dx() != w || frame.Rect.Dy() != h {
		got := "nil"
		if frame != nil {
			got = fmt.Sprintf("%dx%d", frame.Rect.Dx(), frame.Rect.Dy())
		}
		return fmt.Errorf("gpu: Present: frame is %s, the swapchain %dx%d", got, w, h)
	}
	if err := s.wait(); err != nil {
		return err
	}
	dst := s.staging.Mapped()
	for y := 0; y < h; y++ {
		row := frame.Pix[y*frame.Stride : y*frame.Stride+4*w]
		out := dst[4*w*y : 4*w*(y+1)]
		if !s.bgra() {
			copy(out, row)
			continue
		}
		for x := 0; x < 4*w; x += 4 {
			out[x], out[x+1], out[x+2], out[x+3] = row[x+2], row[x+1], row[x], row[x+3]
		}
	}
	var rb C.VkBuffer
	var roff C.uint64_t
	if s.capture != nil {
		rb, roff = cBuffer(s.capture.blk.buf), C.uint64_t(s.capture.off)
	}
	var what *C.char
	s.d.queueMu.Lock()
	r := vk.Result(C.vkd_swapchain_present(s.c, cBuffer(s.staging.blk.buf), C.uint64_t(s.staging.off), rb, roff, &what))
	s.d.queueMu.Unlock()
	switch r {
	case vk.Success:
		return nil
	case vk.Suboptimal, vk.ErrorOutOfDate:
		return fmt.Errorf("gpu: Present: %s: %w", C.GoString(what), ErrOutOfDate)
	case vk.Timeout, vk.NotReady:
		return fmt.Errorf("gpu: Present: the window system gave no image to draw into for 2 s (%s)", resultName(r))
	}
	return vkErr("Present: "+C.GoString(what), r)
}

// wait waits for the frame in flight, if any.
func (s *Swapchain) wait() error {
	return vkErr("waiting for the previous frame", vk.Result(C.vkd_swapchain_wait(s.c)))
}

// bgra reports whether the swapchain's images hold B, G, R, A bytes.
func (s *Swapchain) bgra() bool { return s.c.bgra != 0 }

// live checks that the swapchain can be used.
func (s *Swapchain) live(op string) error {
	if s.closed {
		return fmt.Errorf("gpu: %s: swapchain closed", op)
	}
	return nil
}

// Close waits for the frames in flight and frees the swapchain. Closing
// twice, or after Device.Close, does nothing.
func (s *Swapchain) Close() {
	d := s.d
	if d.enter("Close") != nil {
		return
	}
	defer d.leave()
	d.mu.Lock()
	_, live := d.swaps[s]
	delete(d.swaps, s)
	d.mu.Unlock()
	if live {
		s.destroy()
	}
}

// destroy frees the swapchain's objects (Close, or Device.Close after the
// device went idle).
func (s *Swapchain) destroy() {
	if s.closed {
		return
	}
	s.free()
	s.closed = true
}

// free destroys the C swapchain and its buffers.
func (s *Swapchain) free() {
	if s.c != nil {
		s.d.queueMu.Lock()
		C.vkd_swapchain_free(s.c)
		s.d.queueMu.Unlock()
		s.c = nil
	}
	for _, b := range []**Buffer{&s.staging, &s.capture} {
		if *b != nil {
			(*b).Free()
			*b = nil
		}
	}
}
