package cpu

import "fmt"

// Tokens builds a transformer's input rows: per image, the S special rows
// ([CLS], [DIST]) then the T−S patch rows, each plus its position row. out
// is [B·T, D], patches [B·(T−S), D], special [S, D], pos [T, D]. One fp32
// add per element; it runs on the calling goroutine (B·T·D adds, a sliver
// of a forward pass).
func Tokens(out, patches, special, pos []float32, B, T, S, D int) error {
	if B < 1 || T < 1 || S < 0 || S > T || D < 1 || B > maxDim/T || B*T > maxDim/D {
		return fmt.Errorf("cpu: tokens: %d images of %d tokens (%d special) × %d: out of range", B, T, S, D)
	}
	if len(out) < B*T*D || len(patches) < B*(T-S)*D || len(special) < S*D || len(pos) < T*D {
		return fmt.Errorf("cpu: tokens: out %d, patches %d, special %d, pos %d values; want %d, %d, %d, %d",
			len(out), len(patches), len(special), len(pos), B*T*D, B*(T-S)*D, S*D, T*D)
	}
	for b := range B {
		for t := range T {
			var src []float32
			if t < S {
				src = special[t*D : (t+1)*D]
			} else {
				src = patches[(b*(T-S)+t-S)*D:][:D]
			}
			dst := out[(b*T+t)*D:][:D]
			p := pos[t*D:][:D]
			for i := range dst {
				dst[i] = src[i] + p[i]
			}
		}
	}
	return nil
}
