package server

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"

	"github.com/vkdeit/vkdeit/classify"
)

// classifyDefaultTopK is /classify's default ranking length, as for the
// Hugging Face image-classification pipeline.
const classifyDefaultTopK = 5

// classify serves POST /classify?top_k=K: one image, as the raw body or
// as the file of a multipart/form-data body, answered in the shape of
// the Hugging Face Inference API's image classification:
// [{"label": ..., "score": ...}, ...], most probable first.
func (s *Server) classify(w http.ResponseWriter, r *http.Request) error {
	k := classifyDefaultTopK
	if v := r.URL.Query().Get("top_k"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errorf(kindBadRequest, "top_k %s: want a positive integer", quote(v))
		}
		k = n
	}
	// The body is read before the request takes a slot (see restInfer).
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
	data, err := classifyImage(r.Header, body)
	if err != nil {
		return err
	}
	req := &request{n: 1, images: [][]byte{data}, outputs: []string{outputLogits}}
	logits, _, err := s.infer(r.Context(), req)
	if err != nil {
		return err
	}
	top, err := classify.TopK(logits, k, s.cfg.Labels)
	if err != nil {
		return errorf(kindInternal, "classify: %w", err)
	}
	type labelScore struct {
		Label string  `json:"label"`
		Score float64 `json:"score"`
	}
	out := make([]labelScore, len(top))
	for i, p := range top {
		out[i] = labelScore{p.Label, p.Score}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// classifyImage finds /classify's image in its body: the first file part
// of a multipart/form-data body (or its part named "file" or "image"),
// else the whole body. A part aliases the body where it can.
func classifyImage(h http.Header, body []byte) ([]byte, error) {
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt != "multipart/form-data" {
		if len(body) == 0 {
			return nil, errorf(kindBadRequest, "empty body; send an image file (or multipart/form-data with a file)")
		}
		return body, nil
	}
	if params["boundary"] == "" {
		return nil, errorf(kindBadRequest, "multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errorf(kindBadRequest, "the multipart/form-data body has no file part")
		}
		if err != nil {
			return nil, errorf(kindBadRequest, "reading the multipart/form-data body: %v", err)
		}
		if p.FileName() == "" && p.FormName() != "file" && p.FormName() != "image" {
			continue
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, errorf(kindBadRequest, "reading the multipart/form-data body: %v", err)
		}
		if len(data) == 0 {
			return nil, errorf(kindBadRequest, "the file part %s is empty", quote(p.FormName()))
		}
		return data, nil
	}
}
