package gpu_test

import (
	"errors"
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// openHeadless opens a device that presents to a VK_EXT_headless_surface
// surface. Mesa 26's lavapipe has the extension (make test-coopmat runs
// these tests on it with $VKDEIT_REQUIRE_HEADLESS=1, which makes its absence
// a failure); bookworm's lavapipe does not, and there the test is skipped:
// the viewer's test presents to a real X11 window instead
// (cmd/vkdeit-view).
func openHeadless(t *testing.T, opts gpu.Options) *gpu.Device {
	t.Helper()
	opts.InstanceExtensions = gpu.HeadlessExtensions
	opts.Surface = gpu.HeadlessSurface
	d := gputest.Open(t) // skips without a device, outside CI
	info := d.Info()
	require.NoError(t, d.Close())
	probe, err := gpu.Open(gpu.Options{Select: strconv.Itoa(info.Index), InstanceExtensions: gpu.HeadlessExtensions, Surface: gpu.HeadlessSurface})
	if err != nil && strings.Contains(err.Error(), "lacks instance extension") && os.Getenv("VKDEIT_REQUIRE_HEADLESS") != "1" {
		t.Skipf("no headless presentation on %s (VKDEIT_REQUIRE_HEADLESS=1 makes this a failure): %v", info.Driver, err)
	}
	require.NoError(t, err)
	require.NoError(t, probe.Close())
	opts.Select = strconv.Itoa(info.Index)
	return gputest.OpenOptions(t, opts)
}

// pattern is a w×h frame whose every pixel differs in each channel from its
// neighbours, seeded so that successive frames differ too.
func pattern(w, h, seed int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := img.PixOffset(x, y)
			img.Pix[o] = uint8(x*7 + seed)
			img.Pix[o+1] = uint8(y*13 + seed*3)
			img.Pix[o+2] = uint8(x*y + seed*5)
			img.Pix[o+3] = uint8(255 - seed)
		}
	}
	return img
}

// asRGBA turns captured swapchain bytes back into RGBA order.
func asRGBA(pix []byte, bgra bool) []byte {
	if bgra {
		for i := 0; i+3 < len(pix); i += 4 {
			pix[i], pix[i+2] = pix[i+2], pix[i]
		}
	}
	return pix
}

// TestSwapchainPresent presents frames and reads each swapchain image back:
// the bytes must be the frame's, in the swapchain's byte order, through
// several images of the chain, after a resize, and with frames whose Rect
// does not start at the origin.
func TestSwapchainPresent(t *testing.T) {
	for _, opts := range []gpu.Options{{}, gpu.Staging(gpu.Options{})} {
		t.Run(fmt.Sprintf("staging=%v", opts.ForceStaging), func(t *testing.T) {
			d := openHeadless(t, opts)
			s, err := d.NewSwapchain(37, 23)
			require.NoError(t, err)
			w, h := s.Size()
			require.Equal(t, [2]int{37, 23}, [2]int{w, h}, "a headless surface takes the size asked for")
			require.NoError(t, s.Capture())
			for seed := range 5 { // more frames than images in the chain
				frame := pattern(w, h, seed)
				require.NoError(t, s.Present(frame))
				pix, bgra, err := s.Captured()
				require.NoError(t, err)
				require.Equal(t, frame.Pix, asRGBA(pix, bgra), "frame %d", seed)
			}

			require.NoError(t, s.Resize(64, 8))
			w, h = s.Size()
			require.Equal(t, [2]int{64, 8}, [2]int{w, h})
			require.NoError(t, s.Capture())
			big := pattern(w+10, h+5, 9)
			sub := big.SubImage(image.Rect(10, 5, 10+w, 5+h)).(*image.RGBA)
			require.NoError(t, s.Present(sub))
			pix, bgra, err := s.Captured()
			require.NoError(t, err)
			want := image.NewRGBA(image.Rect(0, 0, w, h))
			for y := 0; y < h; y++ {
				copy(want.Pix[y*want.Stride:], sub.Pix[y*sub.Stride:y*sub.Stride+4*w])
			}
			require.Equal(t, want.Pix, asRGBA(pix, bgra))
			s.Close()
			s.Close()
			require.Error(t, s.Present(want))
		})
	}
}

// TestSurfaceErrors: a device without a surface, a missing instance
// extension and a failing or null surface are errors naming the problem.
func TestSurfaceErrors(t *testing.T) {
	plain := gputest.Open(t)
	_, err := plain.NewSwapchain(16, 16)
	require.ErrorContains(t, err, "opened without a surface")

	_, err = gpu.Open(gpu.Options{InstanceExtensions: []string{"VK_KHR_surface", "VK_VKDEIT_no_such_extension"}})
	require.ErrorContains(t, err, "lacks instance extension(s) VK_VKDEIT_no_such_extension")
	boom := errors.New("no window")
	_, err = gpu.Open(gpu.Options{Surface: func(unsafe.Pointer) (uintptr, error) { return 0, boom }})
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "creating the window surface")
	_, err = gpu.Open(gpu.Options{Surface: func(unsafe.Pointer) (uintptr, error) { return 0, nil }})
	require.ErrorContains(t, err, "null surface")
}

// TestSwapchainErrors: wrong frame sizes, sizes out of range and use after
// the device closed are errors naming the problem; a swapchain left open is
// freed by Device.Close (the validation layer reports leaks).
func TestSwapchainErrors(t *testing.T) {
	d := openHeadless(t, gpu.Options{})
	s, err := d.NewSwapchain(16, 16)
	require.NoError(t, err)
	err = s.Present(image.NewRGBA(image.Rect(0, 0, 16, 15)))
	require.ErrorContains(t, err, "frame is 16x15, the swapchain 16x16")
	require.ErrorContains(t, s.Present(nil), "frame is nil")
	_, err = d.NewSwapchain(0, 16)
	require.ErrorContains(t, err, "swapchain size 0x16")
	require.ErrorContains(t, s.Resize(16, 1<<16), "swapchain size 16x65536")

	// s is still open: Device.Close frees it, and later calls fail.
	require.NoError(t, d.Close())
	require.ErrorIs(t, s.Present(image.NewRGBA(image.Rect(0, 0, 16, 16))), gpu.ErrClosed)
	require.ErrorIs(t, s.Resize(8, 8), gpu.ErrClosed)
	s.Close()
}
