package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/deit"
)

// FuzzParseREST feeds arbitrary bodies, with and without the binary
// extension's header, to the REST request parser: it must never panic, and
// whatever it accepts must be a consistent request.
func FuzzParseREST(f *testing.F) {
	m := tinyModel(f)
	s, err := New(m, refEngine(f, m, 2), Options{MaxQueue: 8})
	require.NoError(f, err)
	one := deit.RandomPixels(m.Config, 1, 1)
	js, _ := json.Marshal(map[string]any{"id": "x", "inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": []int{1, 3, 32, 32}, "data": one}},
		"outputs": []any{map[string]any{"name": "probabilities", "parameters": map[string]any{"binary_data": true}}}})
	f.Add(js, -1)
	bin, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "image", "datatype": "BYTES", "shape": []int{2},
		"parameters": map[string]any{"binary_data_size": 10}}}})
	f.Add(append(bin, bytesElems([]byte("ab"), []byte("cd"))...), len(bin))
	f.Add([]byte(`{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":[["aGk="]]}]}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[1,3,32,32],"data":[[[-1e-3,2E+5]]]}]}`), -1)
	f.Add([]byte("\xff\xd8\xff raw image"), 0)
	f.Fuzz(func(t *testing.T, body []byte, jsonLen int) {
		h := http.Header{}
		if jsonLen >= 0 {
			h.Set(headerJSONLength, strconv.Itoa(jsonLen))
		}
		c := &claim{m: s.mem}
		defer c.release()
		req, binOut, err := s.initial.parseREST(h, body, c)
		// Pixels are charged once their count matches: at most 4 bytes per
		// value of 2 bytes or more of text ("0,"), or 4 bytes of binary.
		require.LessOrEqual(t, c.bytes, 2*int64(len(body)), "memory charged for a %d-byte body", len(body))
		if err != nil {
			require.IsType(t, &apiError{}, err)
			return
		}
		require.GreaterOrEqual(t, req.n, 1)
		require.LessOrEqual(t, req.n, 8)
		require.Equal(t, req.pixels == nil, req.images != nil, "exactly one input")
		if req.pixels != nil {
			require.Len(t, req.pixels, s.initial.pixelCount(req.n))
		} else {
			require.Len(t, req.images, req.n)
		}
		require.Len(t, binOut, len(req.outputs))
		require.NotEmpty(t, req.outputs)
	})
}
