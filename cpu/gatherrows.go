package cpu

import "fmt"

// GatherRows copies the first S rows of each image's T rows: in [B·T, D],
// out [B·S, D]. A transformer's head reads only its special tokens, so only
// those rows need the final LayerNorm. It runs on the calling goroutine.
func GatherRows(out, in []float32, B, T, S, D int) error {
	if B < 1 || T < 1 || S < 1 || S > T || D < 1 || B > maxDim/T || B*T > maxDim/D {
		return fmt.Errorf("cpu: gatherrows: %d rows of %d per image, %d images × %d: out of range", S, T, B, D)
	}
	if len(in) < B*T*D || len(out) < B*S*D {
		return fmt.Errorf("cpu: gatherrows: in %d and out %d values, want %d and %d", len(in), len(out), B*T*D, B*S*D)
	}
	for b := range B {
		copy(out[b*S*D:(b+1)*S*D], in[b*T*D:])
	}
	return nil
}
