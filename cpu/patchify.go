package cpu

import "fmt"

// Patchify cuts pixels [B, C, H, W] into out [B·Gh·Gw, C·P·P] (row
// (b, py, px), column (c, ky, kx)) with Gh = H/P and Gw = W/P, dropping any
// remainder beyond a multiple of P: the input of a stride-P, kernel-P
// convolution written as one GEMM (the patch embedding). It is pure data
// movement, one copy of P floats per (patch, channel, kernel row), and runs
// on the calling goroutine.
func Patchify(out, pixels []float32, B, C, H, W, P int) error {
	if B < 1 || C < 1 || P < 1 || P > H || P > W || B > maxDim/C || H > maxDim/W || B*C > maxDim/(H*W) {
		return fmt.Errorf("cpu: patchify: %d images of %d×%d×%d with patch %d: out of range", B, C, H, W, P)
	}
	gh, gw := H/P, W/P
	K := C * P * P
	if len(pixels) < B*C*H*W || len(out) < B*gh*gw*K {
		return fmt.Errorf("cpu: patchify: pixels has %d and out %d values, want %d and %d", len(pixels), len(out), B*C*H*W, B*gh*gw*K)
	}
	for b := range B {
		for py := range gh {
			for px := range gw {
				row := out[((b*gh+py)*gw+px)*K:]
				for ch := range C {
					for ky := range P {
						src := pixels[((b*C+ch)*H+py*P+ky)*W+px*P:]
						copy(row[(ch*P+ky)*P:(ch*P+ky+1)*P], src[:P])
					}
				}
			}
		}
	}
	return nil
}
