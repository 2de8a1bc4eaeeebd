package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// headerJSONLength is the binary tensor data extension's header: the
// length of the JSON part of a body that continues with binary tensors.
// 0 on a request means the whole body is one input's raw data.
const headerJSONLength = "Inference-Header-Content-Length"

// Parameters of the binary tensor data extension.
const (
	paramBinarySize   = "binary_data_size"   // on an input or output: its bytes in the binary part
	paramBinary       = "binary_data"        // on a requested output: send it binary
	paramBinaryOutput = "binary_data_output" // on the request: send every output binary
)

// restRequest is $inference_request.
type restRequest struct {
	ID         string                     `json:"id"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Inputs     []restInput                `json:"inputs"`
	Outputs    []restOutput               `json:"outputs"`
}

// restInput is $request_input.
type restInput struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	// Data is the input's data value, undecoded: scanREST finds it in the
	// body, so that encoding/json skips it rather than copying it.
	Data []byte `json:"-"`
}

// restOutput is $request_output.
type restOutput struct {
	Name       string                     `json:"name"`
	Parameters map[string]json.RawMessage `json:"parameters"`
}

// restInfer serves POST /v2/models/NAME[/versions/V]/infer. The body is
// read before the request takes an inference slot (readBody), so that
// slow uploads hold no slot, and charged to the request memory budget with
// the tensors decoded from it.
func (s *Server) restInfer(w http.ResponseWriter, r *http.Request, md *model) error {
	c := &claim{m: s.mem}
	defer c.release()
	body, err := s.readBody(w, r, c)
	if err != nil {
		return err
	}
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	req, binaryOut, err := md.parseREST(r.Header, body, c)
	if err != nil {
		return err
	}
	res, err := s.infer(r.Context(), md, req)
	if err != nil {
		return err
	}
	return md.writeREST(w, req, md.outputs(req, res), binaryOut)
}

// parseREST decodes an inference request body: JSON, JSON followed by
// binary tensors, or (Inference-Header-Content-Length: 0) one raw encoded
// image. binaryOut says, per requested output, whether to send it binary.
// The JSON is checked by scanREST before it is decoded, and pixels are
// allocated (and charged to c) once their count matches the shape.
func (md *model) parseREST(h http.Header, body []byte, c *claim) (req *request, binaryOut []bool, err error) {
	jsonPart, binPart := body, []byte(nil)
	if v := h.Get(headerJSONLength); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > int64(len(body)) {
			return nil, nil, errorf(kindBadRequest, "%s: %s is not a length within the %d-byte body", headerJSONLength, quote(v), len(body))
		}
		if n == 0 {
			// A raw binary request: the body is one image file.
			return &request{n: 1, images: [][]byte{body}, outputs: []string{outputLogits}}, []bool{false}, nil
		}
		jsonPart, binPart = body[:n], body[n:]
	}
	data, err := scanREST(jsonPart, len(md.outputNames()))
	if err != nil {
		return nil, nil, err
	}
	var rr restRequest
	if err := json.Unmarshal(jsonPart, &rr); err != nil {
		return nil, nil, errorf(kindBadRequest, "malformed JSON request: %v", err)
	}
	if len(rr.Inputs) != 1 {
		return nil, nil, errorf(kindBadRequest, "%d inputs; a request has exactly one: %s or %s", len(rr.Inputs), inputPixels, inputImage)
	}
	in := rr.Inputs[0]
	in.Data = data
	req = &request{id: rr.ID}
	if req.n, err = md.inputShape(in.Name, in.Datatype, in.Shape); err != nil {
		return nil, nil, err
	}
	binSize, hasBin, err := intParam(in.Parameters, paramBinarySize, "input "+in.Name)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case hasBin && len(in.Data) > 0:
		return nil, nil, errorf(kindBadRequest, "input %s has both data and %s", in.Name, paramBinarySize)
	case hasBin && binSize != int64(len(binPart)):
		return nil, nil, errorf(kindBadRequest, "input %s: %s is %d but the body holds %d bytes after the JSON header", in.Name, paramBinarySize, binSize, len(binPart))
	case !hasBin && len(binPart) > 0:
		return nil, nil, errorf(kindBadRequest, "%d bytes after the JSON header but no input has %s", len(binPart), paramBinarySize)
	case !hasBin && (len(in.Data) == 0 || bytes.Equal(in.Data, []byte("null"))):
		return nil, nil, errorf(kindBadRequest, "input %s has no data", in.Name)
	}
	switch in.Name {
	case inputPixels:
		count := md.pixelCount(req.n)
		if hasBin {
			req.pixels, err = decodeFP32(in.Name, binPart, count, c)
		} else {
			req.pixels, err = parseJSONFloats(in.Name, in.Data, count, c)
		}
		if err == nil {
			err = md.checkFinite(in.Name, req.pixels)
		}
	case inputImage:
		if hasBin {
			req.images, err = splitBytes(in.Name, binPart, req.n)
		} else {
			req.images, err = parseJSONBase64(in.Name, in.Data, req.n)
		}
	}
	if err != nil {
		return nil, nil, err
	}

	allBinary, _, err := boolParam(rr.Parameters, paramBinaryOutput, "request")
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(rr.Outputs))
	for i, o := range rr.Outputs {
		names[i] = o.Name
	}
	if req.outputs, err = md.checkOutputs(names); err != nil {
		return nil, nil, err
	}
	binaryOut = make([]bool, len(req.outputs))
	req.classes = make([]int, len(req.outputs))
	for i := range binaryOut {
		binaryOut[i] = allBinary
		if i < len(rr.Outputs) {
			where := "output " + rr.Outputs[i].Name
			b, set, err := boolParam(rr.Outputs[i].Parameters, paramBinary, where)
			if err != nil {
				return nil, nil, err
			}
			if set {
				binaryOut[i] = b
			}
			k, set, err := intParam(rr.Outputs[i].Parameters, paramClassification, where)
			if err != nil {
				return nil, nil, err
			}
			if set && k < 1 {
				return nil, nil, errorf(kindBadRequest, "%s: parameter %s is %d, want at least 1 (the number of classes to report)", where, paramClassification, k)
			}
			if set {
				if req.classes[i], err = md.classCount(rr.Outputs[i].Name, k); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	return req, binaryOut, nil
}

// intParam reads an integer parameter.
func intParam(params map[string]json.RawMessage, key, where string) (int64, bool, error) {
	raw, ok := params[key]
	if !ok {
		return 0, false, nil
	}
	var v int64
	if err := json.Unmarshal(raw, &v); err != nil || v < 0 {
		return 0, false, errorf(kindBadRequest, "%s: parameter %s is %s, want a non-negative integer", where, key, clip(string(raw)))
	}
	return v, true, nil
}

// boolParam reads a boolean parameter.
func boolParam(params map[string]json.RawMessage, key, where string) (bool, bool, error) {
	raw, ok := params[key]
	if !ok {
		return false, false, nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, false, errorf(kindBadRequest, "%s: parameter %s is %s, want true or false", where, key, clip(string(raw)))
	}
	return v, true, nil
}

// parseJSONBase64 reads n BYTES elements from JSON: strings (in a flat or
// nested array) holding base64 (standard alphabet) of image files, since
// JSON strings cannot carry arbitrary bytes. It stops at element n+1, so
// that what it decodes is at most n images of the body's size.
func parseJSONBase64(name string, data []byte, n int) ([][]byte, error) {
	var out [][]byte
	err := walkJSONArray(name, data, func(tok []byte, _ int) error {
		if tok[0] != '"' {
			return errorf(kindBadRequest, "input %s: element %d is not a string; want a base64 string (BYTES in JSON are base64-encoded image files)", name, len(out))
		}
		if len(out) == n {
			return errorf(kindBadRequest, "input %s: more than the %d elements of its shape [%d]", name, n, n)
		}
		var str string
		if err := json.Unmarshal(tok, &str); err != nil {
			return errorf(kindBadRequest, "input %s: element %d: %v", name, len(out), err)
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return errorf(kindBadRequest, "input %s: element %d is not base64 (BYTES in JSON are base64-encoded image files): %v", name, len(out), err)
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, errorf(kindBadRequest, "input %s: %d elements for shape [%d]", name, len(out), n)
	}
	return out, nil
}

// writeREST answers an inference: JSON, or when some output goes binary,
// the JSON header followed by those outputs' bytes in order.
func (md *model) writeREST(w http.ResponseWriter, req *request, outs []tensor, binaryOut []bool) error {
	var js, bin []byte
	js = append(js, `{"model_name":`...)
	js = appendJSONString(js, md.name)
	js = append(js, `,"model_version":`...)
	js = appendJSONString(js, md.version)
	if req.id != "" {
		js = append(js, `,"id":`...)
		js = appendJSONString(js, req.id)
	}
	js = append(js, `,"outputs":[`...)
	for i, t := range outs {
		if i > 0 {
			js = append(js, ',')
		}
		js = append(js, `{"name":`...)
		js = appendJSONString(js, t.name)
		js = append(js, `,"datatype":"`...)
		js = append(js, t.datatype()...)
		js = append(js, `","shape":[`...)
		for k, d := range t.shape {
			if k > 0 {
				js = append(js, ',')
			}
			js = strconv.AppendInt(js, d, 10)
		}
		js = append(js, ']')
		switch {
		case binaryOut[i]:
			n := len(bin)
			if t.bytes != nil {
				bin = appendBytesElems(bin, t.bytes)
			} else {
				bin = appendFP32(bin, t.data)
			}
			js = append(js, `,"parameters":{"binary_data_size":`...)
			js = strconv.AppendInt(js, int64(len(bin)-n), 10)
			js = append(js, '}')
		case t.bytes != nil:
			js = append(js, `,"data":[`...)
			for k, e := range t.bytes {
				if k > 0 {
					js = append(js, ',')
				}
				js = appendJSONString(js, string(e))
			}
			js = append(js, ']')
		default:
			js = append(js, `,"data":`...)
			var err error
			if js, err = appendJSONFloats(js, t.data); err != nil {
				return errorf(kindInternal, "output %s: %v; ask for it with the binary tensor data extension", t.name, err)
			}
		}
		js = append(js, '}')
	}
	js = append(js, "]}"...)
	if bin == nil {
		writeBody(w, http.StatusOK, "application/json", js)
		return nil
	}
	w.Header().Set(headerJSONLength, strconv.Itoa(len(js)))
	writeBody(w, http.StatusOK, "application/octet-stream", append(js, bin...))
	return nil
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		panic(fmt.Sprintf("server: encoding %q: %v", s, err))
	}
	return append(dst, b...)
}
