package cpu

import "unsafe"

// amxConfig is the 64-byte operand of LDTILECFG (palette 1): per tile its
// bytes per row (colsb) and rows. gemmKernelAMX's layout: TMM0..TMM3 the
// C quarters and TMM4, TMM5 the A row blocks, 12 rows of 64 bytes (16 fp32
// or 16 bf16 pairs); TMM6, TMM7 the panel halves, 16 pair rows of 64 bytes.
type amxConfig struct {
	palette uint8
	_       uint8 // start_row: 0
	_       [14]byte
	colsb   [8]uint16 // bytes 16–31
	_       [16]byte
	rows    [8]uint8 // bytes 48–55
	_       [8]byte
}

// The layout is the instruction's: exactly 64 bytes (checked at compile
// time).
var (
	_ [64 - unsafe.Sizeof(amxConfig{})]byte
	_ [unsafe.Sizeof(amxConfig{}) - 64]byte
)

// amxTiles is gemmKernelAMX's configuration, read-only.
var amxTiles = func() *amxConfig {
	c := &amxConfig{palette: 1}
	for t := range 8 {
		c.colsb[t], c.rows[t] = 64, 12
	}
	c.rows[6], c.rows[7] = 16, 16
	return c
}()

// amxModel is a Go model of the AMX tile registers, enough to run
// gemmKernelAMX's tile program (gemmKernelAMXModel) on any CPU: eight tiles
// of up to 16 rows of 64 bytes shaped by an amxConfig, and the four
// instructions the kernel uses, following their pseudo-code in Intel's SDM.
type amxModel struct {
	cfg   *amxConfig
	tiles [8][16][16]uint32 // 16 rows of 16 words (64 bytes)
}

// load is TILELOADD t, [base + stride·row]: rows × colsb bytes, the rest of
// the tile zeroed.
func (m *amxModel) load(t int, base unsafe.Pointer, stride int) {
	m.tiles[t] = [16][16]uint32{}
	for r := range int(m.cfg.rows[t]) {
		copy(m.tiles[t][r][:m.cfg.colsb[t]/4], unsafe.Slice((*uint32)(unsafe.Add(base, r*stride)), m.cfg.colsb[t]/4))
	}
}

// zero is TILEZERO t.
func (m *amxModel) zero(t int) { m.tiles[t] = [16][16]uint32{} }

// store is TILESTORED [base + stride·row], t.
func (m *amxModel) store(t int, base unsafe.Pointer, stride int) {
	for r := range int(m.cfg.rows[t]) {
		copy(unsafe.Slice((*uint32)(unsafe.Add(base, r*stride)), m.cfg.colsb[t]/4), m.tiles[t][r][:m.cfg.colsb[t]/4])
	}
}

// dpbf16ps is TDPBF16PS c, a, b: for each row m of c and each of a's pairs
// k, c[m][n] += a[m].bf16[2k]·b[k].bf16[2n], then += the odd (2k+1, 2n+1)
// product, in float32.
func (m *amxModel) dpbf16ps(c, a, b int) {
	for r := range int(m.cfg.rows[c]) {
		for k := range int(m.cfg.colsb[a] / 4) {
			aw := m.tiles[a][r][k]
			a0, a1 := FromBF16(uint16(aw)), FromBF16(uint16(aw>>16))
			for n := range int(m.cfg.colsb[c] / 4) {
				bw := m.tiles[b][k][n]
				s := math32(m.tiles[c][r][n])
				s += a0 * FromBF16(uint16(bw))
				s += a1 * FromBF16(uint16(bw>>16))
				m.tiles[c][r][n] = bits32(s)
			}
		}
	}
}

// gemmKernelAMXModel runs gemmKernelAMX's instruction sequence (see
// gemm_bf16_amd64.s) on an amxModel: same arguments, same result.
func gemmKernelAMXModel(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, cfg *amxConfig) {
	m := &amxModel{cfg: cfg}
	ap, bp := unsafe.Pointer(a), unsafe.Pointer(b)
	a12 := unsafe.Add(ap, 12*4*lda)
	if acc != nil {
		p := unsafe.Pointer(acc)
		m.load(0, p, 4*ldacc)
		m.load(1, unsafe.Add(p, 64), 4*ldacc)
		m.load(2, unsafe.Add(p, 12*4*ldacc), 4*ldacc)
		m.load(3, unsafe.Add(p, 12*4*ldacc+64), 4*ldacc)
	} else {
		for t := range 4 {
			m.zero(t)
		}
	}
	for s := range kp / 16 {
		m.load(4, unsafe.Add(ap, 64*s), 4*lda)
		m.load(5, unsafe.Add(a12, 64*s), 4*lda)
		m.load(6, unsafe.Add(bp, 2048*s), 128)
		m.load(7, unsafe.Add(bp, 2048*s+64), 128)
		m.dpbf16ps(0, 4, 6)
		m.dpbf16ps(1, 4, 7)
		m.dpbf16ps(2, 5, 6)
		m.dpbf16ps(3, 5, 7)
	}
	p := unsafe.Pointer(c)
	m.store(0, p, 4*ldc)
	m.store(1, unsafe.Add(p, 64), 4*ldc)
	m.store(2, unsafe.Add(p, 12*4*ldc), 4*ldc)
	m.store(3, unsafe.Add(p, 12*4*ldc+64), 4*ldc)
}

func math32(w uint32) float32 { return *(*float32)(unsafe.Pointer(&w)) }
func bits32(f float32) uint32 { return *(*uint32)(unsafe.Pointer(&f)) }
