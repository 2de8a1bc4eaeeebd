package ref

// Patchify is the twin of the patchify kernel: pixels [B, C, H, W] cut into
// rows [B·Gh·Gw, C·P·P] (row (b, py, px), column (c, ky, kx)), Gh = H/P and
// Gw = W/P, dropping any remainder beyond a multiple of P. This is the
// stride-P convolution of the patch embedding written as a matmul input.
func Patchify(pixels []float32, B, C, H, W, P int) []float32 {
	gh, gw := H/P, W/P
	K := C * P * P
	out := make([]float32, B*gh*gw*K)
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
	return out
}

// Tokens is the twin of the tokens kernel: per image, the S special rows
// ([CLS], [DIST]) then the T−S patch rows, each plus its position row:
// out [B·T, D], patches [B·(T−S), D], special [S, D], pos [T, D]. One fp32
// add per element, exact as float32 arithmetic.
func Tokens(patches, special, pos []float32, B, T, S, D int) []float32 {
	out := make([]float32, B*T*D)
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
	return out
}

// GatherRows is the twin of the gatherrows kernel: the first S rows of each
// image's T rows, in [B·T, D] → [B·S, D].
func GatherRows(in []float32, B, T, S, D int) []float32 {
	out := make([]float32, 0, B*S*D)
	for b := range B {
		out = append(out, in[b*T*D:(b*T+S)*D]...)
	}
	return out
}
