package deit

import (
	"math/rand/v2"
)

// RandomWeights returns deterministic random weights for cfg: the same cfg
// and seed always give the same values, on every platform. The scales follow
// the usual ViT initialisation so that activations stay in a realistic range
// through any number of layers: every Linear and conv weight, the special
// tokens and the position table are N(0, 0.02²) truncated at ±2σ (timm's
// trunc_normal_(std=.02)), biases N(0, 0.01²), LayerNorm gains 1 + N(0, 0.02²)
// and LayerNorm shifts N(0, 0.01²). It is meant for benchmarks and for
// GPU-versus-CPU tests at full model size without a download. It returns
// nil when cfg is invalid (see Config.Validate); forward passes then fail
// with a clear error.
func RandomWeights(cfg Config, seed int64) *Weights {
	if cfg.Validate() != nil {
		return nil
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed_de17))
	normal := func(n int, mean, std float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			v := r.NormFloat64()
			for v < -2 || v > 2 {
				v = r.NormFloat64()
			}
			out[i] = float32(mean + std*v)
		}
		return out
	}
	weight := func(n int) []float32 { return normal(n, 0, 0.02) }
	bias := func(n int) []float32 { return normal(n, 0, 0.01) }
	gain := func(n int) []float32 { return normal(n, 1, 0.02) }

	D, M, L := cfg.Hidden, cfg.MLP, cfg.NumLabels
	w := &Weights{
		PatchW:  weight(D * cfg.Channels * cfg.PatchSize * cfg.PatchSize),
		PatchB:  bias(D),
		Special: weight(cfg.Special() * D),
		Pos:     weight(cfg.Tokens() * D),
		Layers:  make([]Layer, cfg.Layers),
	}
	for i := range w.Layers {
		w.Layers[i] = Layer{
			LN1G: gain(D), LN1B: bias(D),
			QW: weight(D * D), QB: bias(D),
			KW: weight(D * D), KB: bias(D),
			VW: weight(D * D), VB: bias(D),
			ProjW: weight(D * D), ProjB: bias(D),
			LN2G: gain(D), LN2B: bias(D),
			FC1W: weight(M * D), FC1B: bias(M),
			FC2W: weight(D * M), FC2B: bias(D),
		}
	}
	w.NormG, w.NormB = gain(D), bias(D)
	w.ClsW, w.ClsB = weight(L*D), bias(L)
	if cfg.Head == HeadDistilled {
		w.DistW, w.DistB = weight(L*D), bias(L)
	}
	return w
}

// RandomPixels returns a deterministic pseudo-random input batch [B, C, H, W]
// for cfg, uniform in [−2, 2.5) like normalized ImageNet pixels.
func RandomPixels(cfg Config, B int, seed int64) []float32 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	px := make([]float32, B*cfg.Channels*cfg.ImageSize*cfg.ImageSize)
	for i := range px {
		px[i] = float32(rng.Float64()*4.5 - 2)
	}
	return px
}
