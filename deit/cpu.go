package deit

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// CPUResult is the output of ForwardCPU.
type CPUResult struct {
	// Logits are [B, NumLabels], row-major: for HeadDistilled the average
	// of the [CLS] and [DIST] heads, otherwise the classifier on [CLS].
	Logits []float32
	// Hidden holds, for every encoder layer, its output (the residual
	// stream after the block, before the final LayerNorm), [B*T, Hidden]
	// with row b*T + t for token t of image b. It exists to check other
	// implementations layer by layer.
	Hidden [][]float32
}

// ForwardCPU runs the network on the CPU for a batch of B preprocessed
// images, pixels being [B, Channels, ImageSize, ImageSize] float32 (CHW per
// image, as imageio.Preprocessor.Apply returns them, concatenated). It is the
// reference implementation: it follows deit-spec.md §2 step by step with
// plain loops, keeps activations in float32 like the PyTorch model and
// accumulates every dot product and reduction in float64. Work is split
// over goroutines by rows only. ctx is checked between layers.
func (m *Model) ForwardCPU(ctx context.Context, pixels []float32, B int) (*CPUResult, error) {
	if m == nil {
		return nil, fmt.Errorf("deit: ForwardCPU: nil model")
	}
	c := m.Config
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("deit: ForwardCPU: config: %w", err)
	}
	if err := m.Weights.check(c); err != nil {
		return nil, fmt.Errorf("deit: ForwardCPU: %w", err)
	}
	if B < 1 {
		return nil, fmt.Errorf("deit: ForwardCPU: batch size %d, want at least 1", B)
	}
	C, HW := c.Channels, c.ImageSize
	if per := C * HW * HW; len(pixels)%per != 0 || len(pixels)/per != B {
		want := B * per
		return nil, fmt.Errorf("deit: ForwardCPU: got %d pixel values, want B×C×H×W = %d×%d×%d×%d = %d",
			len(pixels), B, C, HW, HW, want)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := m.Weights
	D, T, S, N := c.Hidden, c.Tokens(), c.Special(), c.Patches()

	// §2.2 patch embedding: a stride-P, kernel-P convolution = a Linear
	// over each patch flattened in (c, ky, kx) order.
	patches := patchify(pixels, B, C, HW, HW, c.PatchSize)
	emb := linear(patches, w.PatchW, w.PatchB, B*N, C*c.PatchSize*c.PatchSize, D)

	// §2.3 tokens: [CLS] ([DIST]) then the patches, plus position rows.
	x := make([]float32, B*T*D)
	for b := range B {
		for t := range T {
			var src []float32
			if t < S {
				src = w.Special[t*D : (t+1)*D]
			} else {
				src = emb[(b*N+t-S)*D : (b*N+t-S+1)*D]
			}
			dst := x[(b*T+t)*D : (b*T+t+1)*D]
			pos := w.Pos[t*D : (t+1)*D]
			for i := range dst {
				dst[i] = src[i] + pos[i]
			}
		}
	}

	// §2.4 encoder layers.
	res := &CPUResult{Hidden: make([][]float32, 0, c.Layers)}
	for i := range w.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x = encoderLayer(x, &w.Layers[i], c, B)
		res.Hidden = append(res.Hidden, x)
	}

	// §2.5 final LayerNorm (only the special tokens reach a head, and
	// LayerNorm works row by row) and §2.6 heads.
	L := c.NumLabels
	res.Logits = make([]float32, B*L)
	for b := range B {
		z := layerNorm(x[b*T*D:(b*T+S)*D], w.NormG, w.NormB, S, D, c.Eps)
		cls := toFloat64(z[:D]) // [CLS]
		var dist []float64
		if c.Head == HeadDistilled {
			dist = toFloat64(z[D : 2*D]) // [DIST]
		}
		for o := range L {
			v := float64(w.ClsB[o]) + dot(cls, w.ClsW[o*D:(o+1)*D])
			if dist != nil {
				v = (v + float64(w.DistB[o]) + dot(dist, w.DistW[o*D:(o+1)*D])) / 2
			}
			res.Logits[b*L+o] = float32(v)
		}
	}
	return res, nil
}

// encoderLayer is one pre-LayerNorm transformer block (§2.4) on x [B*T, D];
// it returns a new slice x2 = x1 + MLP(LN2(x1)) with x1 = x + Attn(LN1(x)).
func encoderLayer(x []float32, ly *Layer, c Config, B int) []float32 {
	D, T, M := c.Hidden, c.Tokens(), c.MLP
	rows := B * T
	a := layerNorm(x, ly.LN1G, ly.LN1B, rows, D, c.Eps)
	q := linear(a, ly.QW, ly.QB, rows, D, D)
	k := linear(a, ly.KW, ly.KB, rows, D, D)
	v := linear(a, ly.VW, ly.VB, rows, D, D)
	o := attention(q, k, v, B, T, c.Heads, c.HeadDim())
	x1 := linear(o, ly.ProjW, ly.ProjB, rows, D, D)
	for i := range x1 {
		x1[i] += x[i]
	}
	u := linear(layerNorm(x1, ly.LN2G, ly.LN2B, rows, D, c.Eps), ly.FC1W, ly.FC1B, rows, D, M)
	for i, val := range u {
		f := float64(val)
		u[i] = float32(0.5 * f * (1 + math.Erf(f/math.Sqrt2)))
	}
	x2 := linear(u, ly.FC2W, ly.FC2B, rows, M, D)
	for i := range x2 {
		x2[i] += x1[i]
	}
	return x2
}

// patchify cuts pixels [B, C, H, W] into rows [B*Gh*Gw, C*P*P] (row b,py,px;
// column c,ky,kx), dropping any remainder beyond a multiple of P.
func patchify(pixels []float32, B, C, H, W, P int) []float32 {
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

// linear returns y [rows, out] = x [rows, in] · Wᵀ + bias with W in nn.Linear
// layout [out, in], accumulating in float64. Rows go in blocks of four so
// that each weight row, read and widened once, serves four dot products;
// each output is still one plain float64 sum over i in order.
func linear(x, W, bias []float32, rows, in, out int) []float32 {
	const rb = 4
	y := make([]float32, rows*out)
	parallel((rows+rb-1)/rb, func(lo, hi int) {
		xs := make([]float64, rb*in)
		for blk := lo; blk < hi; blk++ {
			r0 := blk * rb
			n := min(rb, rows-r0)
			clear(xs)
			for j := range n {
				for i, v := range x[(r0+j)*in : (r0+j+1)*in] {
					xs[j*in+i] = float64(v)
				}
			}
			x0, x1, x2, x3 := xs[0:in], xs[in:2*in], xs[2*in:3*in], xs[3*in:4*in]
			var s [rb]float64
			for o := range out {
				wr := W[o*in : (o+1)*in]
				x0, x1, x2, x3 := x0[:len(wr)], x1[:len(wr)], x2[:len(wr)], x3[:len(wr)]
				var s0, s1, s2, s3 float64
				for i, wv := range wr {
					w := float64(wv)
					s0 += x0[i] * w
					s1 += x1[i] * w
					s2 += x2[i] * w
					s3 += x3[i] * w
				}
				s = [rb]float64{s0, s1, s2, s3}
				for j := range n {
					y[(r0+j)*out+o] = float32(float64(bias[o]) + s[j])
				}
			}
		}
	})
	return y
}

// attention is softmax(Q·Kᵀ/√d)·V for every image and head (§2.4 steps
// 2–4): q, k, v [B*T, H*d] with head j in columns [j*d, (j+1)*d); the result
// has the heads merged the same way.
func attention(q, k, v []float32, B, T, H, d int) []float32 {
	D := H * d
	scale := 1 / math.Sqrt(float64(d))
	out := make([]float32, B*T*D)
	parallel(B*T, func(lo, hi int) {
		qr := make([]float64, d)
		p := make([]float64, T)
		acc := make([]float64, d)
		for r := lo; r < hi; r++ {
			b := r / T
			for j := range H {
				for e := range d {
					qr[e] = float64(q[r*D+j*d+e])
				}
				mx := math.Inf(-1)
				for u := range T {
					s := dot(qr, k[(b*T+u)*D+j*d:(b*T+u)*D+(j+1)*d]) * scale
					p[u] = s
					mx = math.Max(mx, s)
				}
				var sum float64
				for u := range p {
					p[u] = math.Exp(p[u] - mx)
					sum += p[u]
				}
				clear(acc)
				for u := range T {
					pu := p[u] / sum
					vr := v[(b*T+u)*D+j*d : (b*T+u)*D+(j+1)*d]
					for e := range acc {
						acc[e] += pu * float64(vr[e])
					}
				}
				for e := range d {
					out[r*D+j*d+e] = float32(acc[e])
				}
			}
		}
	})
	return out
}

// layerNorm normalizes each of rows rows of x [rows, D] with the biased
// variance (divide by D), then scales by gamma and shifts by beta.
func layerNorm(x, gamma, beta []float32, rows, D int, eps float32) []float32 {
	y := make([]float32, rows*D)
	parallel(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*D : (r+1)*D]
			var mean float64
			for _, v := range xr {
				mean += float64(v)
			}
			mean /= float64(D)
			var variance float64
			for _, v := range xr {
				dv := float64(v) - mean
				variance += dv * dv
			}
			variance /= float64(D)
			inv := 1 / math.Sqrt(variance+float64(eps))
			for i, v := range xr {
				y[r*D+i] = float32((float64(v)-mean)*inv*float64(gamma[i]) + float64(beta[i]))
			}
		}
	})
	return y
}

// dot is Σ a[i]·b[i] in float64. Four partial sums only shorten the
// dependency chain; every product and sum is still a float64 operation.
func dot(a []float64, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * float64(b[i])
		s1 += a[i+1] * float64(b[i+1])
		s2 += a[i+2] * float64(b[i+2])
		s3 += a[i+3] * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += a[i] * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// toFloat64 returns x widened to float64.
func toFloat64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// parallel calls f on contiguous, disjoint row ranges covering [0, n), one
// goroutine per available CPU, and waits for all of them.
func parallel(n int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		f(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
