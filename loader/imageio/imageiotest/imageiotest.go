// Package imageiotest makes hostile images for the tests of imageio and of
// its callers (the server, the CLI): files that are small but cost a decoder
// much time or memory.
package imageiotest

import (
	"bytes"
	"encoding/binary"
)

// JPEGScanBomb is a progressive gray JPEG of w×h pixels (at most 65535
// each) whose scans are all the same first AC scan (coefficients 1 to 63),
// each a few dozen bytes: the Huffman table's one code is a run of 32767
// blocks without a nonzero coefficient (EOB14 with all 14 extra bits set),
// so each scan costs a pass over every block. Without a DC scan libjpeg
// only warns (a "bogus progression"), and the image decodes as flat gray
// (128).
func JPEGScanBomb(w, h, scans int) []byte {
	b := []byte{0xFF, 0xD8}
	seg := func(marker byte, body ...byte) {
		b = append(b, 0xFF, marker)
		b = binary.BigEndian.AppendUint16(b, uint16(2+len(body)))
		b = append(b, body...)
	}
	seg(0xDB, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...)          // quantization table 0, all ones
	seg(0xC2, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)    // progressive, 1 component
	seg(0xC4, append(append([]byte{0x10, 1}, make([]byte, 15)...), 0xE0)...) // AC table 0: one 1-bit code, EOB14
	var ent []byte
	var acc uint32
	nb := 0
	put := func(v uint32, n int) {
		for i := n - 1; i >= 0; i-- {
			acc, nb = acc<<1|(v>>i)&1, nb+1
			if nb == 8 {
				ent = append(ent, byte(acc))
				if byte(acc) == 0xFF {
					ent = append(ent, 0) // byte stuffing
				}
				acc, nb = 0, 0
			}
		}
	}
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	for range (blocks + 32766) / 32767 {
		put(0, 1)        // the code
		put(1<<14-1, 14) // EOBRUN = 2^14 + 16383
	}
	for nb != 0 {
		put(1, 1) // pad with ones
	}
	for range scans {
		seg(0xDA, 1, 1, 0x00, 1, 63, 0) // component 1, table 0, Ss 1, Se 63, Ah Al 0
		b = append(b, ent...)
	}
	return append(b, 0xFF, 0xD9)
}
