package imageio

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// goldenDir holds the inputs and Pillow outputs written by testdata/gen_golden.py.
const goldenDir = "testdata/images"

type goldenManifest struct {
	Pillow     string `json:"pillow"`
	Preprocess []struct {
		Input        string          `json:"input"`
		Config       json.RawMessage `json:"config"`
		Decoded      string          `json:"decoded"`
		Resized      string          `json:"resized"`
		ResizedShape []int           `json:"resized_shape"`
		Output       string          `json:"output"`
		OutputShape  []int           `json:"output_shape"`
	} `json:"preprocess"`
	Decode []struct {
		Input   string `json:"input"`
		W       int    `json:"w"`
		H       int    `json:"h"`
		Decoded string `json:"decoded"`
	} `json:"decode"`
	JPEGPrefixes []struct {
		Input    string `json:"input"`
		Size     int    `json:"size"`
		Accepted []int  `json:"accepted"`
	} `json:"jpeg_prefixes"`
	JPEGEndings []struct {
		Input     string `json:"input"`
		Keep      int    `json:"keep"`
		Append    string `json:"append"`
		PillowOK  bool   `json:"pillow_ok"`
		RGBSHA256 string `json:"rgb_sha256"`
	} `json:"jpeg_endings"`
	Orientation []struct {
		Input       string  `json:"input"`
		Orientation int     `json:"orientation"`
		W           int     `json:"w"`
		H           int     `json:"h"`
		Pixels      []uint8 `json:"pixels"`
	} `json:"orientation"`
}

func readManifest(t testing.TB) *goldenManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, "manifest.json"))
	require.NoError(t, err)
	var m goldenManifest
	require.NoError(t, json.Unmarshal(data, &m))
	return &m
}

// goldenRGB reads a golden uint8 RGB array stored as PNG, with the standard
// library decoder only (independent of the code under test).
func goldenRGB(t testing.TB, name string) *Image {
	t.Helper()
	f, err := os.Open(filepath.Join(goldenDir, name))
	require.NoError(t, err)
	defer f.Close()
	m, err := png.Decode(f)
	require.NoError(t, err)
	b := m.Bounds()
	img := &Image{W: b.Dx(), H: b.Dy(), Pix: make([]uint8, 0, b.Dx()*b.Dy()*3)}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := m.At(x, y).RGBA()
			require.Equal(t, uint32(0xffff), a)
			img.Pix = append(img.Pix, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
		}
	}
	return img
}

// goldenFloats reads a gzip-compressed little-endian float32 array.
func goldenFloats(t testing.TB, name string) []float32 {
	t.Helper()
	f, err := os.Open(filepath.Join(goldenDir, name))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Zero(t, len(raw)%4)
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// formulaImage is gen_golden.py's formula(): a w×h integer pattern used as a
// large input without committing it.
func formulaImage(w, h int) *Image {
	img := &Image{W: w, H: h, Pix: make([]uint8, w*h*3)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				v := (x+2*y+85*c)/2 + ((x/32+y/32)%2)*60 + (x*y)%7
				img.Pix[(y*w+x)*3+c] = uint8(v & 255)
			}
		}
	}
	return img
}

// byteDiff returns how many bytes differ, the largest absolute difference and
// the pixel (x, y, channel) where it occurs first.
func byteDiff(a, b *Image) (n, maxd, at int) {
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		if d < 0 {
			d = -d
		}
		if d != 0 {
			n++
		}
		if d > maxd {
			maxd, at = d, i
		}
	}
	return n, maxd, at
}

func requireSameImage(t *testing.T, want, got *Image, what string) {
	t.Helper()
	require.Equal(t, want.W, got.W, "%s: width", what)
	require.Equal(t, want.H, got.H, "%s: height", what)
	n, maxd, at := byteDiff(got, want)
	px := at / 3
	require.Zero(t, n, "%s: %d bytes differ, max %d at x=%d y=%d c=%d (got %d want %d)",
		what, n, maxd, px%want.W, px/want.W, at%3, got.Pix[at], want.Pix[at])
}

func TestImageGoldenPreprocess(t *testing.T) {
	m := readManifest(t)
	require.NotEmpty(t, m.Preprocess)
	for i, c := range m.Preprocess {
		t.Run(c.Input, func(t *testing.T) {
			var img *Image
			if c.Input == "formula:640x480" {
				img = formulaImage(640, 480)
			} else {
				var err error
				img, err = Load(filepath.Join(goldenDir, c.Input), DecodeOptions{})
				require.NoError(t, err)
			}
			if c.Decoded != "" {
				requireSameImage(t, goldenRGB(t, c.Decoded), img, "decode")
			}
			p, err := parsePreprocessor(c.Config)
			require.NoError(t, err, "case %d config", i)
			w, h := p.resizeSize(img.W, img.H)
			resized := Resize(img, w, h, p.Resample)
			want := goldenRGB(t, c.Resized)
			require.Equal(t, c.ResizedShape, []int{want.H, want.W, 3})
			requireSameImage(t, want, resized, "resize")

			out, err := p.Apply(img)
			require.NoError(t, err)
			oh, ow := p.OutputSize(img.W, img.H)
			require.Equal(t, c.OutputShape, []int{3, oh, ow})
			require.Len(t, out, 3*oh*ow)
			if c.Output == "" {
				return
			}
			gold := goldenFloats(t, c.Output)
			require.Len(t, gold, len(out))
			bad := 0
			for j := range gold {
				if math.Float32bits(gold[j]) != math.Float32bits(out[j]) {
					if bad == 0 {
						t.Errorf("first float32 mismatch at %d: got %v want %v", j, out[j], gold[j])
					}
					bad++
				}
			}
			require.Zero(t, bad, "%d float32 values differ", bad)
		})
	}
}

func TestImageGoldenDecode(t *testing.T) {
	m := readManifest(t)
	require.NotEmpty(t, m.Decode)
	for _, c := range m.Decode {
		t.Run(c.Input, func(t *testing.T) {
			got, err := Load(filepath.Join(goldenDir, c.Input), DecodeOptions{})
			require.NoError(t, err)
			want := goldenRGB(t, c.Decoded)
			require.Equal(t, [2]int{c.W, c.H}, [2]int{got.W, got.H})
			requireSameImage(t, want, got, "decode")
		})
	}
}

// Every proper prefix of every JPEG golden is refused, as Pillow refuses it
// ("image file is truncated"), except those Pillow accepts because the
// scanlines were complete before the data ended; those decode like the whole
// file.
func TestImageGoldenJPEGPrefixes(t *testing.T) {
	m := readManifest(t)
	require.NotEmpty(t, m.JPEGPrefixes)
	for _, c := range m.JPEGPrefixes {
		t.Run(c.Input, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(goldenDir, c.Input))
			require.NoError(t, err)
			require.Len(t, data, c.Size)
			full, err := Decode(bytes.NewReader(data), DecodeOptions{})
			require.NoError(t, err)
			accepted := map[int]bool{}
			for _, n := range c.Accepted {
				accepted[n] = true
			}
			for n := range len(data) {
				img, err := Decode(bytes.NewReader(data[:n]), DecodeOptions{})
				if !accepted[n] {
					require.Error(t, err, "prefix of %d bytes", n)
					if n >= 3 { // the JPEG signature is FF D8 FF
						require.ErrorIs(t, err, ErrCorruptImage, "prefix of %d bytes", n)
					}
					continue
				}
				require.NoError(t, err, "prefix of %d bytes", n)
				require.Equal(t, full, img, "prefix of %d bytes", n)
			}
		})
	}
}

// Endings after the last scan (a missing or damaged EOI marker, trailing
// data) are accepted or refused as Pillow does, with Pillow's pixels.
func TestImageGoldenJPEGEndings(t *testing.T) {
	m := readManifest(t)
	require.NotEmpty(t, m.JPEGEndings)
	for _, c := range m.JPEGEndings {
		t.Run(fmt.Sprintf("%s/%d+%s", c.Input, c.Keep, c.Append), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(goldenDir, c.Input))
			require.NoError(t, err)
			tail, err := hex.DecodeString(c.Append)
			require.NoError(t, err)
			img, err := Decode(bytes.NewReader(append(data[:c.Keep:c.Keep], tail...)), DecodeOptions{})
			if !c.PillowOK {
				require.ErrorIs(t, err, ErrCorruptImage)
				require.ErrorContains(t, err, "truncated JPEG")
				return
			}
			require.NoError(t, err)
			sum := sha256.Sum256(img.Pix)
			require.Equal(t, c.RGBSHA256, hex.EncodeToString(sum[:]))
		})
	}
}

func TestImageGoldenOrientation(t *testing.T) {
	m := readManifest(t)
	require.Len(t, m.Orientation, 8)
	for _, c := range m.Orientation {
		got, err := Load(filepath.Join(goldenDir, c.Input), DecodeOptions{})
		require.NoError(t, err)
		want := &Image{W: c.W, H: c.H, Pix: c.Pixels}
		requireSameImage(t, want, got, c.Input)
		raw, err := Load(filepath.Join(goldenDir, c.Input), DecodeOptions{NoEXIF: true})
		require.NoError(t, err)
		require.Equal(t, [2]int{5, 3}, [2]int{raw.W, raw.H}, "NoEXIF keeps the stored layout")
	}
}

func TestImageDecodeReaderMatchesFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(goldenDir, "palette_83x61.png"))
	require.NoError(t, err)
	a, err := Decode(bytes.NewReader(data), DecodeOptions{})
	require.NoError(t, err)
	b, err := Load(filepath.Join(goldenDir, "palette_83x61.png"), DecodeOptions{})
	require.NoError(t, err)
	require.Equal(t, a, b)
}

// JPEG decodes on several goroutines at once give the sequential results:
// every decode has its own libjpeg state.
func TestImageJPEGConcurrent(t *testing.T) {
	m := readManifest(t)
	var inputs [][]byte
	var want []*Image
	for _, c := range m.JPEGPrefixes {
		data, err := os.ReadFile(filepath.Join(goldenDir, c.Input))
		require.NoError(t, err)
		img, err := Decode(bytes.NewReader(data), DecodeOptions{})
		require.NoError(t, err)
		inputs, want = append(inputs, data), append(want, img)
	}
	const workers = 8
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for round := range 20 {
				i := (w + round) % len(inputs)
				img, err := Decode(bytes.NewReader(inputs[i]), DecodeOptions{})
				if err == nil && !bytes.Equal(img.Pix, want[i].Pix) {
					err = fmt.Errorf("worker %d: input %d decoded differently", w, i)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
}
