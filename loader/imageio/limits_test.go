package imageio

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/loader/imageio/imageiotest"
)

// webpBomb is a complete lossless WebP of w×h pixels (up to 16384 each) in
// 28 bytes: every prefix code has a single symbol, so no pixel takes a bit.
func webpBomb(w, h int) []byte {
	payload := binary.LittleEndian.AppendUint32([]byte{0x2F}, uint32(w-1)|uint32(h-1)<<14)
	// No transform, no colour cache, no meta codes, then five simple codes of
	// one 1-bit symbol (0), least significant bit first.
	payload = append(payload, 0x88, 0x88, 0x08)
	chunk := binary.LittleEndian.AppendUint32([]byte("VP8L"), uint32(len(payload)))
	chunk = append(chunk, payload...)
	riff := binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(4+len(chunk)))
	return append(append(riff, "WEBP"...), chunk...)
}

// jpegWithSize returns a golden JPEG whose frame header claims w×h pixels
// (its scans then no longer match: libjpeg would report them corrupt or
// truncated, after allocating for the claimed size).
func jpegWithSize(t testing.TB, name string, w, h int) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, name))
	require.NoError(t, err)
	for p := 2; p+9 < len(data) && data[p] == 0xFF; p += 2 + int(binary.BigEndian.Uint16(data[p+2:])) {
		if m := data[p+1]; m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			binary.BigEndian.PutUint16(data[p+5:], uint16(h))
			binary.BigEndian.PutUint16(data[p+7:], uint16(w))
			return data
		}
	}
	t.Fatalf("%s: no frame header", name)
	return nil
}

// pngWithSize returns an 8×8 gray PNG whose header (with a valid checksum)
// claims w×h pixels.
func pngWithSize(t testing.TB, w, h uint32) []byte {
	d := pngData8x8(t)
	binary.BigEndian.PutUint32(d[16:], w)
	binary.BigEndian.PutUint32(d[20:], h)
	binary.BigEndian.PutUint32(d[29:], crc32.ChecksumIEEE(d[12:29]))
	return d
}

// Decompression bombs are refused from their headers, before the pixels are
// allocated: a 28-byte WebP of 12000×12000 pixels used to take 1 GB, a
// progressive JPEG of that size 1.5 GB.
func TestImageBombsRefusedFromHeader(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		opts DecodeOptions
		msg  string
	}{
		{"webp 16384x16384", webpBomb(16384, 16384), DecodeOptions{}, "WebP image of 16384x16384 pixels exceeds the limit of 178956970 pixels"},
		{"progressive jpeg 20000x20000", jpegWithSize(t, "q75_420_progressive.jpg", 20000, 20000), DecodeOptions{},
			"JPEG image of 20000x20000 pixels exceeds the limit of 178956970 pixels"},
		{"webp one row over Pillow's error threshold", webpBomb(13381, 13374), DecodeOptions{},
			"WebP image of 13381x13374 pixels exceeds the limit of 178956970 pixels"},
		{"baseline jpeg 65500x65500", jpegWithSize(t, "q90_444.jpg", 65500, 65500), DecodeOptions{}, "exceeds the limit"},
		{"png 100000x100000", pngWithSize(t, 100000, 100000), DecodeOptions{}, "PNG image of 100000x100000 pixels exceeds"},
		{"webp 3000x3000 under MaxPixels 1e6", webpBomb(3000, 3000), DecodeOptions{MaxPixels: 1e6}, "exceeds the limit of 1000000 pixels"},
		{"jpeg one pixel over MaxPixels", jpegWithSize(t, "q90_420.jpg", 97, 61), DecodeOptions{MaxPixels: 97*61 - 1}, "exceeds the limit of 5916 pixels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Decode(bytes.NewReader(c.data), c.opts)
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, ErrTooLarge)
			require.ErrorContains(t, err, c.msg)
			var pl *PixelLimitError
			require.ErrorAs(t, err, &pl)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "allocated before refusing")
		})
	}
	// Pillow opens (with a warning) images between MAX_IMAGE_PIXELS and
	// twice as many: so does the default limit. This 95 MP header then
	// meets the (small) budget, not the pixel limit.
	_, err := Decode(bytes.NewReader(webpBomb(10000, 9500)), DecodeOptions{Budget: NewBudget(1 << 20)})
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "more than the whole budget")
	require.Equal(t, int64(2*89_478_485), int64(DefaultMaxPixels))
	// At the limit, the same image decodes.
	img, err := Decode(bytes.NewReader(jpegWithSize(t, "q90_420.jpg", 97, 61)), DecodeOptions{MaxPixels: 97 * 61})
	require.NoError(t, err)
	require.Equal(t, [2]int{97, 61}, [2]int{img.W, img.H})
	img, err = Decode(bytes.NewReader(webpBomb(300, 200)), DecodeOptions{})
	require.NoError(t, err)
	require.Equal(t, [2]int{300, 200}, [2]int{img.W, img.H})
}

// A progressive JPEG whose last scan is repeated: each repetition costs a
// few hundred bytes and a pass over the image, so past jpegMaxScans scans
// the file is refused (an image this small stays within jpegMinWork).
func TestImageJPEGScanLimit(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(goldenDir, "q75_420_progressive.jpg"))
	require.NoError(t, err)
	last := bytes.LastIndex(data, []byte{0xFF, 0xDA})
	scan := data[last : len(data)-2]
	scans := bytes.Count(data, []byte{0xFF, 0xDA})
	cases := []struct {
		repeats int
		ok      bool
	}{
		{jpegMaxScans - scans, true},
		{jpegMaxScans - scans + 1, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(scans+c.repeats, " scans"), func(t *testing.T) {
			d := append(append(data[:len(data)-2:len(data)-2], bytes.Repeat(scan, c.repeats)...), 0xFF, 0xD9)
			_, err := Decode(bytes.NewReader(d), DecodeOptions{})
			if c.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrTooLarge)
			require.ErrorContains(t, err, "JPEG with more than 500 scans")
		})
	}
}

// The scans of a JPEG may decode jpegMaxPasses times its blocks: a file of
// cheap scans that each cost a pass over the image (the 9456×9456, 500-scan
// file that took 44 s) is refused as soon as its scans have cost that much,
// whatever the scan count.
func TestImageJPEGWorkLimit(t *testing.T) {
	const w, h = 4096, 4096 // 262144 blocks: 16 passes are jpegMinWork
	require.Equal(t, int64(jpegMinWork), jpegMaxWork(w*h/64))
	require.Equal(t, int64(jpegMinWork), jpegMaxWork(1), "small images keep the floor")
	cases := []struct {
		scans int
		ok    bool
	}{
		{jpegMaxPasses, true},
		{jpegMaxPasses + 1, false},
		{jpegMaxScans, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.scans, " scans"), func(t *testing.T) {
			data := imageiotest.JPEGScanBomb(w, h, c.scans)
			require.Less(t, len(data), 200+100*c.scans, "a few dozen bytes a scan")
			img, err := Decode(bytes.NewReader(data), DecodeOptions{})
			if c.ok {
				require.NoError(t, err)
				require.Equal(t, [2]int{w, h}, [2]int{img.W, img.H})
				require.Equal(t, uint8(128), img.Pix[3*(w*h-1)])
				return
			}
			require.ErrorIs(t, err, ErrTooLarge)
			require.ErrorContains(t, err, "JPEG with scans that decode more than 4194304 blocks, 16 passes over its 262144 (a CPU-time bomb)")
		})
	}
}

// A done context stops libjpeg mid-decode, within a row, and the decode
// returns the context's error: deadlines and shutdown are not held up by a
// slow image. (The image needs 16 passes over a million blocks and the
// output of 64 Mpixels, some hundred milliseconds; the deadline comes after
// 5 ms.)
func TestImageJPEGDecodeCanceled(t *testing.T) {
	data := imageiotest.JPEGScanBomb(8192, 8192, jpegMaxPasses)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	img, err := DecodeContext(ctx, bytes.NewReader(data), DecodeOptions{})
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Nil(t, img)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "stopped before the RGB result was allocated")

	// A context already done stops the decode before libjpeg's first row,
	// even where the caller checked it just before (decodeJPEG is below the
	// check in decodeBytes).
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = decodeJPEG(ctx, data)
	require.ErrorIs(t, err, context.Canceled)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Decode reads at most MaxBytes (plus one byte to see that there is more),
// and nothing past the first bytes of data that is no supported image.
func TestImageReadLimit(t *testing.T) {
	jpg, err := os.ReadFile(filepath.Join(goldenDir, "q90_420.jpg"))
	require.NoError(t, err)
	endless := func(head []byte) *countingReader {
		return &countingReader{r: io.MultiReader(bytes.NewReader(head), zeroReader{})}
	}
	cases := []struct {
		name     string
		r        *countingReader
		maxBytes int64
		is       error
		msg      string
		maxRead  int64
	}{
		{"endless jpeg", endless([]byte{0xFF, 0xD8, 0xFF}), 0, ErrTooLarge,
			"more than the limit of 536870912 bytes (DecodeOptions.MaxBytes)", DefaultMaxBytes + 1},
		{"endless png, small limit", endless([]byte("\x89PNG\r\n\x1a\n")), 100_000, ErrTooLarge,
			"more than the limit of 100000 bytes", 100_001},
		{"endless zeros", endless(nil), 0, ErrUnsupportedImage, "not a JPEG, PNG", sniffLen},
		{"endless heic", endless([]byte("\x00\x00\x00\x18ftypheic")), 0, ErrUnsupportedImage, "HEIC", sniffLen},
		{"jpeg one byte over", &countingReader{r: bytes.NewReader(jpg)}, int64(len(jpg)) - 1, ErrTooLarge,
			"more than the limit of 2778 bytes", int64(len(jpg))},
		{"jpeg at the limit", &countingReader{r: bytes.NewReader(jpg)}, int64(len(jpg)), nil, "", int64(len(jpg))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, err := Decode(c.r, DecodeOptions{MaxBytes: c.maxBytes})
			require.LessOrEqual(t, c.r.n, c.maxRead, "bytes read")
			if c.is == nil {
				require.NoError(t, err)
				require.Equal(t, 97, img.W)
				return
			}
			require.ErrorIs(t, err, c.is)
			require.ErrorContains(t, err, c.msg)
		})
	}
}

// Load refuses a file over MaxBytes by its size, before reading it.
func TestImageLoadFileOverLimit(t *testing.T) {
	path := filepath.Join(goldenDir, "q90_420.jpg")
	_, err := Load(path, DecodeOptions{MaxBytes: 1000})
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, path+": image too large: 2779 bytes, more than the limit of 1000 bytes")
}

// Decode holds its estimate of the budget while decoding: it waits while the
// budget is full, gives up when its context ends, refuses an image larger
// than the whole budget, and returns what it held.
func TestImageDecodeWaitsForBudget(t *testing.T) {
	path := filepath.Join(goldenDir, "q75_420_progressive.jpg")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	h, err := readHeader("JPEG", data)
	require.NoError(t, err)
	need := h.workingSet(false)
	require.Greater(t, need, int64(3*97*61), "at least the RGB result")

	b := NewBudget(need)
	require.NoError(t, b.Acquire(context.Background(), 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = LoadContext(ctx, path, DecodeOptions{Budget: b})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, path)
	b.Release(1)

	img, err := Load(path, DecodeOptions{Budget: b})
	require.NoError(t, err)
	require.Equal(t, 97, img.W)
	require.Zero(t, b.used, "released after decoding")

	_, err = Load(path, DecodeOptions{Budget: NewBudget(need - 1)})
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "more than the whole budget")

	// A done context stops a decode even without a budget.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = DecodeContext(ctx, bytes.NewReader(data), DecodeOptions{})
	require.ErrorIs(t, err, context.Canceled)
}

// Workers sharing a budget that fits one image decode one at a time, and all
// succeed.
func TestImageBudgetSerializesWorkers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(goldenDir, "cmyk_progressive.jpg"))
	require.NoError(t, err)
	h, err := readHeader("JPEG", data)
	require.NoError(t, err)
	b := NewBudget(h.workingSet(false))
	const workers = 4
	errs := make(chan error, workers)
	for range workers {
		go func() {
			_, err := Decode(bytes.NewReader(data), DecodeOptions{Budget: b})
			errs <- err
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	require.Zero(t, b.used)
}

// The estimate: 3 bytes a pixel of RGB, a second copy when reoriented, the
// decoder's memory; saturating instead of overflowing.
func TestImageWorkingSet(t *testing.T) {
	cases := []struct {
		name       string
		format     string
		data       []byte
		reoriented bool
		want       int64
	}{
		{"webp", "WebP", webpBomb(300, 200), false, 300*200*(3+8) + 1<<20},
		{"webp reoriented", "WebP", webpBomb(300, 200), true, 300*200*(3+8+3) + 1<<20},
		{"png gray 8x8", "PNG", pngData8x8(t), false, 64*(3+4) + 1<<20},
		{"baseline jpeg", "JPEG", jpegWithSize(t, "q90_420.jpg", 97, 61), false, 97*61*3 + 128*97*3 + 4<<20},
		// 4:2:0, 97x61: Y 14x8 blocks (13x8 padded to whole 2x2 MCUs), Cb
		// and Cr 7x4 each, 128 bytes a block.
		{"progressive jpeg", "JPEG", jpegWithSize(t, "q75_420_progressive.jpg", 97, 61), false,
			97*61*3 + (14*8+2*7*4)*128 + 128*97*3 + 4<<20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := readHeader(c.format, c.data)
			require.NoError(t, err)
			require.Equal(t, c.want, h.workingSet(c.reoriented))
		})
	}
	huge := header{w: 1 << 31, h: 1 << 31, perPixel: 8, fixed: 1 << 20}
	require.Equal(t, int64(1<<63-1), huge.workingSet(true))
}
