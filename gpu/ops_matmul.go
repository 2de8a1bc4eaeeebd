package gpu

import "fmt"

// tiledMatmulTiles are the matmul_tiled tiles (BM, BN, BK, TM, TN, WG; spec
// constants 1..6), most efficient first. The K slices S = WG/((BM/TM)·(BN/TN))
// split every step's BK inside the workgroup.
//
//	64×64, 4×4: 2 vec4 loads per 16 FMAs; the large-M workhorse.
//	32×32, 4×4, S = 4 (64 invocations per slice, 8 k per slice and step).
//	16×32, 4×4, S = 8 (one 32-invocation slice per K eighth): one image's
//	  M = 198 still gives 156 workgroups for N = 384 (7·6 = 42 with 32×64),
//	  each with an eighth of the serial K loop.
//
// 8×8 and 8×4 blocks per invocation (128×128 and 128×64 tiles) measured 10×
// slower on an H200 (2.3 TFLOPS at M = 50688, where 64×64 4×4 tiles reached
// 19): their accumulator arrays left registers. They stay out until the
// shader keeps them in registers (bench/RESULTS.md).
var tiledMatmulTiles = [...][6]uint32{
	{64, 64, 16, 4, 4, 256},
	{32, 32, 32, 4, 4, 256},
	{16, 32, 64, 4, 4, 256},
}

// matmulTargetGroups is the workgroup count a tile must reach to be chosen:
// two per SM of a 128-SM class GPU, so latency hides and the last wave is
// short. Smaller GPUs just run more waves.
const matmulTargetGroups = 256

// matmulTile is the matmul_tiled tile for an M×N×K product: the first (most
// efficient) of tiledMatmulTiles that makes at least matmulTargetGroups
// workgroups, else the one that makes the most. SetMatmulTileForTest forces
// one tile for every shape.
func (o *Ops) matmulTile(M, N int) [6]uint32 {
	if o.forcedTile != ([6]uint32{}) {
		return o.forcedTile
	}
	best, bestGroups := tiledMatmulTiles[0], 0
	for _, t := range tiledMatmulTiles {
		g := ceilDiv(M, int(t[0])) * ceilDiv(N, int(t[1]))
		if g >= matmulTargetGroups {
			return t
		}
		if g > bestGroups {
			best, bestGroups = t, g
		}
	}
	return best
}

// checkMatmulTile reports a tile that matmul_tiled.comp cannot run: TM, TN
// multiples of 4 dividing BM, BN, WG a multiple of the slice size, BK a
// multiple of 4 and of the slice count, and at most 32 KiB of shared memory.
func checkMatmulTile(t [6]uint32) error {
	BM, BN, BK, TM, TN, WG := t[0], t[1], t[2], t[3], t[4], t[5]
	bad := TM == 0 || TN == 0 || TM%4 != 0 || TN%4 != 0 || BM%TM != 0 || BN%TN != 0 || BK == 0 || BK%4 != 0
	if !bad {
		sl := (BM / TM) * (BN / TN)
		bad = WG%sl != 0 || BK%(WG/sl) != 0
		if !bad {
			stage := 2 * BK * (BM + BN)
			red := uint32(0)
			if s := WG / sl; s > 1 {
				red = s * BM * BN
			}
			bad = 4*max(stage, red) > 32<<10
		}
	}
	if bad {
		return fmt.Errorf("gpu: matmul_tiled: unusable tile %v (BM, BN, BK, TM, TN, WG)", t)
	}
	return nil
}

// matmulPipeline returns the heuristic's fp32 matmul pipeline for an
// epilogue and M (N = 1024 stands in for tile selection; NewOps uses it to
// build pipelines early); aligned selects the vec4 paths (K and N multiples
// of 4, 16-byte aligned A and W).
func (o *Ops) matmulPipeline(ep Epilogue, aligned bool, M int) (*Pipeline, error) {
	c, err := o.matmulHeuristic(M, 1024, false)
	if err != nil {
		return nil, err
	}
	p, _, err := o.matmulPipelineFor(c, ep, aligned, false, false, M, 1024)
	return p, err
}

// matmulHeuristic is the built-in choice for an M×N product: cooperative
// matrices for fp16 where the device has them (coopMatmulTile), else the
// variant's design (matmulTile for VariantTiled).
func (o *Ops) matmulHeuristic(M, N int, half bool) (KernelConfig, error) {
	switch {
	case half && o.coopmat:
		t, err := o.coopMatmulTile(M, N)
		return KernelConfig{Op: OpMatmul, Design: DesignCoopMat, Tile: [6]uint32{t.SGM, t.SGN, t.RM, t.RN, t.BK, t.WG}}, err
	case o.variant == VariantTiled:
		return KernelConfig{Op: OpMatmul, Design: DesignTiled, Tile: o.matmulTile(M, N)}, nil
	}
	return KernelConfig{Op: OpMatmul, Design: DesignRegBlock}, nil
}

// checkMatmulConfig reports a configuration this device cannot run for
// products of fp16 (half) or fp32 data.
func (o *Ops) checkMatmulConfig(c KernelConfig, half bool) error {
	lim := o.d.info.MaxWorkgroupInvocations
	switch c.Design {
	case DesignRegBlock:
		return nil
	case DesignTiled:
		if err := checkMatmulTile(c.Tile); err != nil {
			return err
		}
		if lim != 0 && c.Tile[5] > lim {
			return fmt.Errorf("gpu: matmul_tiled: %d invocations per workgroup, %s allows %d", c.Tile[5], o.d.info.Name, lim)
		}
		return nil
	case DesignCoopMat:
		if !half || !o.coopmat {
			return fmt.Errorf("gpu: matmul_coopmat: needs fp16 data on a device with cooperative matrices in use")
		}
		return o.checkCoopMatmulTile(coopTileOf(c.Tile))
	}
	return fmt.Errorf("gpu: matmul: unknown design %q", c.Design)
}

// matmulPipelineFor returns the pipeline and workgroup grid of an M×N
// product run with configuration c; half selects the fp16-storage builds
// (fp16 A and W) and out16 their fp16 C.
func (o *Ops) matmulPipelineFor(c KernelConfig, ep Epilogue, aligned, half, out16 bool, M, N int) (*Pipeline, [3]uint32, error) {
	suffix, extra := "", []uint32(nil)
	if half {
		suffix, extra = "_f16", []uint32{b2u(out16)}
	}
	var p *Pipeline
	var err error
	var bm, bn int
	switch c.Design {
	case DesignCoopMat:
		ct := coopTileOf(c.Tile)
		p, err = o.coopMatmulPipeline(ep, aligned, out16, ct)
		bm, bn = ct.blockM(o.cm), ct.blockN(o.cm)
	case DesignTiled:
		t := c.Tile
		if err := checkMatmulTile(t); err != nil {
			return nil, [3]uint32{}, err
		}
		p, err = o.pipeline("matmul_tiled"+suffix, append([]uint32{uint32(ep), t[0], t[1], t[2], t[3], t[4], t[5], b2u(aligned)}, extra...)...)
		bm, bn = int(t[0]), int(t[1])
	case DesignRegBlock:
		p, err = o.pipeline("matmul_regblock"+suffix, append([]uint32{uint32(ep), b2u(aligned)}, extra...)...)
		bm, bn = 8, 64
	default:
		return nil, [3]uint32{}, fmt.Errorf("gpu: matmul: unknown design %q", c.Design)
	}
	return p, [3]uint32{uint32(ceilDiv(N, bn)), uint32(ceilDiv(M, bm)), 1}, err
}

// Matmul records C[M,N] = A[M,K]·W[K,N] + bias[N], followed by the epilogue:
// GELU applies the exact erf GELU, Residual adds R[M,N]. W is stored [K,N],
// i.e. an nn.Linear weight [N,K] transposed once at load time. bias may be
// the zero Arg{} (no bias); r is only read for EpilogueResidual and may be
// Arg{} otherwise. c must not overlap a, w or bias; it may be exactly r
// (an in-place residual update x += A·W + b: each element of R is read by
// the invocation that then writes it, and by no other).
//
// Element types (Arg.Type): A and W are both F32 (C then F32: today's fp32
// kernels) or both F16 (C F16 or F32); bias and R are always F32. fp16
// products are accumulated in fp32 and the epilogue runs in fp32 before the
// one rounding of C; on devices with cooperative matrices (CoopMat) the fp16
// product runs on them.
func (o *Ops) Matmul(s *Sequence, c, a, w, bias, r Arg, M, N, K int, ep Epilogue) error {
	const op = "matmul"
	if err := checkDims(op, M, K); err != nil {
		return err
	}
	if err := checkDims(op, M, N); err != nil {
		return err
	}
	if err := checkDims(op, K, N); err != nil {
		return err
	}
	if ep > EpilogueResidual {
		return fmt.Errorf("gpu: %s: unknown epilogue %v", op, ep)
	}
	if err := checkType(op, "A", a, F32, F16); err != nil {
		return err
	}
	if w.Type != a.Type {
		return fmt.Errorf("gpu: %s: W is %v but A is %v", op, w.Type, a.Type)
	}
	half := a.Type == F16
	if half {
		if err := o.needFP16(op); err != nil {
			return err
		}
		if err := checkType(op, "C", c, F32, F16); err != nil {
			return err
		}
	} else if err := checkType(op, "C", c, F32); err != nil {
		return err
	}
	if err := checkType(op, "bias", bias, F32); err != nil {
		return err
	}
	if err := checkType(op, "R", r, F32); err != nil {
		return err
	}
	if err := checkArg(op, "C", c, int64(M)*int64(N)); err != nil {
		return err
	}
	if err := checkArg(op, "A", a, int64(M)*int64(K)); err != nil {
		return err
	}
	if err := checkArg(op, "W", w, int64(K)*int64(N)); err != nil {
		return err
	}
	flags := uint32(0)
	if bias.Buf != nil {
		if err := checkArg(op, "bias", bias, int64(N)); err != nil {
			return err
		}
		flags |= 1
	} else {
		bias = a // bound but never read
	}
	if ep == EpilogueResidual {
		if err := checkArg(op, "R", r, int64(M)*int64(N)); err != nil {
			return err
		}
	} else {
		r = a // bound but never read
	}
	vecAlign := 4 * a.Type.Size() // one vec4 of the element type
	aligned := K%4 == 0 && N%4 == 0 && a.Offset%vecAlign == 0 && w.Offset%vecAlign == 0
	out16 := c.Type == F16
	cfg, tuned, err := o.matmulConfig(MatmulShape(M, N, K, a.Type, c.Type, ep))
	if err != nil {
		return err
	}
	p, groups, err := o.matmulPipelineFor(cfg, ep, aligned, half, out16, M, N)
	if err != nil {
		return err
	}
	kind := " " + cfg.String()
	if tuned {
		kind += " (tuned)"
	}
	if half {
		kind += fmt.Sprintf(" f16->%v", c.Type)
	}
	label := fmt.Sprintf("matmul %dx%dx%d %v%s", M, N, K, ep, kind)
	return s.Dispatch(label, p, groups, Push(uint32(M), uint32(N), uint32(K), flags),
		opRead(a), opRead(w), opRead(bias), opRead(r), opWrite(c))
}
