package server

import (
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
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	k := classifyDefaultTopK
	if v := r.URL.Query().Get("top_k"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errorf(kindBadRequest, "top_k %q: want a positive integer", v)
		}
		k = n
	}
	data, err := s.classifyImage(w, r)
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

// classifyImage reads /classify's image: the first file part of a
// multipart/form-data body (or its part named "file" or "image"), else
// the whole body.
func (s *Server) classifyImage(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		data, err := s.readBody(w, r)
		if err == nil && len(data) == 0 {
			err = errorf(kindBadRequest, "empty body; send an image file (or multipart/form-data with a file)")
		}
		return data, err
	}
	if params["boundary"] == "" {
		return nil, errorf(kindBadRequest, "multipart/form-data without a boundary")
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes)
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errorf(kindBadRequest, "the multipart/form-data body has no file part")
		}
		if err != nil {
			return nil, s.bodyError(err)
		}
		if p.FileName() == "" && p.FormName() != "file" && p.FormName() != "image" {
			continue
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, s.bodyError(err)
		}
		if len(data) == 0 {
			return nil, errorf(kindBadRequest, "the file part %q is empty", p.FormName())
		}
		return data, nil
	}
}

// bodyError classifies a failure while reading a body.
func (s *Server) bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(kindTooLarge, "request body is over the server's limit of %d bytes", s.opts.MaxRequestBytes)
	}
	return errorf(kindBadRequest, "reading the request body: %v", err)
}
