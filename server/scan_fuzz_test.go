package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vkdeit/vkdeit/server/inference"
)

// FuzzScanREST checks the REST pre-pass (seeds in
// testdata/fuzz/FuzzScanREST): it never panics, it follows every valid
// JSON object (refusing only over a limit), and whatever it passes decodes
// to a request within its limits, however its keys are spelled.
func FuzzScanREST(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		data, err := scanREST(b, 4)
		valid := json.Valid(b)
		if err != nil {
			require.IsType(t, &apiError{}, err)
			if valid && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{")) {
				require.NotContains(t, err.Error(), "malformed", "valid JSON refused as malformed")
			}
			return
		}
		if !valid {
			return // encoding/json reports it
		}
		if data != nil {
			require.True(t, json.Valid(data), "data %q", data)
		}
		var r restRequest
		if json.Unmarshal(b, &r) != nil {
			return // a type mismatch: reported by encoding/json, allocating nothing more
		}
		require.LessOrEqual(t, len(r.Inputs), 1)
		require.LessOrEqual(t, len(r.Outputs), 4)
		require.LessOrEqual(t, len(r.Parameters), maxParams)
		for _, in := range r.Inputs {
			require.LessOrEqual(t, len(in.Shape), maxDims)
			require.LessOrEqual(t, len(in.Parameters), maxParams)
		}
		for _, o := range r.Outputs {
			require.LessOrEqual(t, len(o.Parameters), maxParams)
		}
	})
}

// FuzzCheckInferWire checks the gRPC request check (seeds in
// testdata/fuzz/FuzzCheckInferWire): it never panics, never calls a
// message protobuf decodes malformed, and whatever it passes decodes to a
// request within its limits.
func FuzzCheckInferWire(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkInferWire(b, 4, 8)
		var r inference.ModelInferRequest
		decoded := proto.Unmarshal(b, &r) == nil
		if err != nil {
			require.IsType(t, &apiError{}, err)
			if decoded {
				require.False(t, strings.Contains(err.Error(), "malformed"), "a message protobuf decodes was called malformed: %v", err)
			}
			return
		}
		if !decoded {
			return
		}
		require.LessOrEqual(t, len(r.GetInputs()), 1)
		require.LessOrEqual(t, len(r.GetRawInputContents()), 1)
		require.LessOrEqual(t, len(r.GetOutputs()), 4)
		require.LessOrEqual(t, len(r.GetParameters()), maxParams)
		for _, in := range r.GetInputs() {
			require.LessOrEqual(t, len(in.GetShape()), maxDims)
			require.LessOrEqual(t, len(in.GetParameters()), maxParams)
			c := in.GetContents()
			require.LessOrEqual(t, len(c.GetBytesContents()), 8)
			require.Empty(t, c.GetBoolContents())
			require.Empty(t, c.GetIntContents())
			require.Empty(t, c.GetInt64Contents())
			require.Empty(t, c.GetUintContents())
			require.Empty(t, c.GetUint64Contents())
			require.Empty(t, c.GetFp64Contents())
		}
		for _, o := range r.GetOutputs() {
			require.LessOrEqual(t, len(o.GetParameters()), maxParams)
		}
	})
}
