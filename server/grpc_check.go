package server

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Limits of a ModelInferRequest, checked on its wire bytes before it is
// decoded: decoding turns a 2-byte empty message into a struct of about a
// hundred bytes and a 1-byte varint into 8, so a message of a few MiB of
// repeated nothing would otherwise decode to GBs. With them, a decoded
// request is at most about twice its message.
const (
	maxParams = 16 // parameters of the request, an input or an output
	maxDims   = 4  // dimensions of an input's shape (pixel_values has 4)
)

// Field numbers of the messages checkInferWire looks into (see
// inference/open_inference_grpc.proto).
const (
	fieldReqParams    = 4 // ModelInferRequest.parameters
	fieldReqInputs    = 5 // ModelInferRequest.inputs
	fieldReqOutputs   = 6 // ModelInferRequest.outputs
	fieldReqRaw       = 7 // ModelInferRequest.raw_input_contents
	fieldInShape      = 3 // InferInputTensor.shape
	fieldInParams     = 4 // InferInputTensor.parameters
	fieldInContents   = 5 // InferInputTensor.contents
	fieldOutParams    = 2 // InferRequestedOutputTensor.parameters
	fieldContentsFP32 = 6 // InferTensorContents.fp32_contents
	fieldContentsByte = 8 // InferTensorContents.bytes_contents
)

// contentsNames names InferTensorContents' fields for errors.
var contentsNames = map[protowire.Number]string{1: "bool_contents", 2: "int_contents", 3: "int64_contents",
	4: "uint_contents", 5: "uint64_contents", 6: "fp32_contents", 7: "fp64_contents", 8: "bytes_contents"}

// checkInferWire checks a ModelInferRequest's wire bytes against the
// limits a request of this server can meet, without decoding it: at most
// one input and one raw_input_contents, maxOutputs outputs, maxParams
// parameters in each map, maxDims dimensions, maxImages bytes_contents,
// and no contents of a type the model cannot take. Repeated fields are
// counted over every occurrence, as decoding merges them. Unknown fields
// pass: they decode to their own bytes.
func checkInferWire(b []byte, maxOutputs, maxImages int) error {
	var inputs, outputs, raws, params int
	return walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil // a wrong wire type decodes as an unknown field
		}
		switch num {
		case fieldReqParams:
			if params++; params > maxParams {
				return errorf(kindBadRequest, "more than %d request parameters", maxParams)
			}
		case fieldReqInputs:
			if inputs++; inputs > 1 {
				return errorf(kindBadRequest, "more than one input; a request has exactly one: %s or %s", inputPixels, inputImage)
			}
			return checkInputWire(v, maxImages)
		case fieldReqOutputs:
			if outputs++; outputs > maxOutputs {
				return errorf(kindBadRequest, "more than %d outputs; the model has %d", maxOutputs, maxOutputs)
			}
			n := 0
			return walkFields(v, func(num protowire.Number, typ protowire.Type, _ []byte) error {
				if num == fieldOutParams && typ == protowire.BytesType {
					if n++; n > maxParams {
						return errorf(kindBadRequest, "output %d: more than %d parameters", outputs-1, maxParams)
					}
				}
				return nil
			})
		case fieldReqRaw:
			if raws++; raws > 1 {
				return errorf(kindBadRequest, "more than one raw_input_contents; a request has exactly one input")
			}
		}
		return nil
	})
}

// checkInputWire checks an InferInputTensor's wire bytes (see
// checkInferWire).
func checkInputWire(b []byte, maxImages int) error {
	var dims, params, images int
	return walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == fieldInShape && typ == protowire.VarintType:
			dims++
		case num == fieldInShape && typ == protowire.BytesType: // packed
			for _, c := range v {
				if c < 0x80 {
					dims++
				}
			}
		case num == fieldInParams && typ == protowire.BytesType:
			if params++; params > maxParams {
				return errorf(kindBadRequest, "input: more than %d parameters", maxParams)
			}
		case num == fieldInContents && typ == protowire.BytesType:
			err := walkFields(v, func(num protowire.Number, typ protowire.Type, _ []byte) error {
				switch {
				case num == fieldContentsFP32:
				case num == fieldContentsByte && typ == protowire.BytesType:
					if images++; images > maxImages {
						return errorf(kindTooLarge, "input: more than %d bytes_contents, the most images the server queues at once", maxImages)
					}
				case contentsNames[num] != "":
					return errorf(kindBadRequest, "input: contents has %s; the model takes fp32_contents (%s) or bytes_contents (%s)",
						contentsNames[num], inputPixels, inputImage)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if dims > maxDims {
			return errorf(kindBadRequest, "input: shape has more than %d dimensions; the model's inputs have at most %d", maxDims, maxDims)
		}
		return nil
	})
}

// walkFields calls f on each field of a message's wire bytes in order,
// with the field's value bytes (for a length-delimited field, its
// contents), stopping at f's first error or at malformed bytes.
func walkFields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return wireError(n)
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return wireError(n)
		}
		b = b[n:]
		if err := f(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// wireError is a malformed message's error.
func wireError(n int) error {
	return errorf(kindBadRequest, "malformed request message: %v", protowire.ParseError(n))
}
