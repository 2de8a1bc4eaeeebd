package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/vkdeit/vkdeit/classify"
)

// classifyDefaultTopK is /classify's default ranking length, as for the
// Hugging Face image-classification pipeline.
const classifyDefaultTopK = 5

// classify serves POST /classify?top_k=K[&model=NAME]: images as the raw
// body (one) or as the file parts of a multipart/form-data body (one or
// more), answered in the shape of the Hugging Face Inference API's image
// classification: [{"label": ..., "score": ...}, ...], most probable
// first, for one image; for several file parts, one entry per file in
// order, [{"filename": ..., "predictions": [...]}, ...]. The model may be
// left out when the server serves one.
func (s *Server) classify(w http.ResponseWriter, r *http.Request) error {
	k := classifyDefaultTopK
	q := r.URL.Query()
	if v := q.Get("top_k"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errorf(kindBadRequest, "top_k %s: want a positive integer", quote(v))
		}
		k = n
	}
	md, err := s.lookupReady(s.defaultModel(q.Get("model")), "")
	if err != nil {
		return err
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
	files, err := classifyImages(r.Header, body, md.maxQueue)
	if err != nil {
		return err
	}
	req := &request{n: len(files), images: make([][]byte, len(files)), outputs: []string{outputLogits}}
	for i, f := range files {
		req.images[i] = f.data
	}
	res, err := s.infer(r.Context(), md, req)
	if err != nil {
		if len(files) > 1 {
			return fileError(err, files)
		}
		return err
	}
	type labelScore struct {
		Label string  `json:"label"`
		Score float64 `json:"score"`
	}
	type fileResult struct {
		Filename    string       `json:"filename"`
		Predictions []labelScore `json:"predictions"`
	}
	answers := make([]fileResult, len(files))
	L := md.cfg.NumLabels
	for i, f := range files {
		top, err := classify.TopK(res.logits[i*L:(i+1)*L], k, md.cfg.Labels)
		if err != nil {
			return errorf(kindInternal, "classify: %w", err)
		}
		answers[i] = fileResult{Filename: f.name, Predictions: make([]labelScore, len(top))}
		for j, p := range top {
			answers[i].Predictions[j] = labelScore{p.Label, p.Score}
		}
	}
	if len(files) == 1 {
		writeJSON(w, http.StatusOK, answers[0].Predictions)
	} else {
		writeJSON(w, http.StatusOK, answers)
	}
	return nil
}

// defaultModel is the model a request names, or when it names none and
// the server serves exactly one model, that one.
func (s *Server) defaultModel(name string) string {
	if name != "" {
		return name
	}
	if names := s.modelNames(); len(names) == 1 {
		return names[0]
	}
	return ""
}

// classifyFile is one image of a /classify request.
type classifyFile struct {
	name string // the part's file name (or form name); "" for a raw body
	data []byte
}

// fileError names the file part behind an "image i: ..." error of a
// request of several files.
func fileError(err error, files []classifyFile) error {
	ae := toAPIError(err)
	var i int
	if _, scanErr := fmt.Sscanf(ae.msg, "image %d:", &i); scanErr == nil && i >= 0 && i < len(files) {
		return errorf(ae.kind, "file part %d (%s): %s", i, quote(files[i].name), strings.TrimPrefix(ae.msg, fmt.Sprintf("image %d: ", i)))
	}
	return err
}

// classifyImages finds /classify's images in its body: every file part of
// a multipart/form-data body (a part with a file name, or named "file" or
// "image"), at most maxFiles, else the whole body. Parts alias the body
// where they can.
func classifyImages(h http.Header, body []byte, maxFiles int) ([]classifyFile, error) {
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt != "multipart/form-data" {
		if len(body) == 0 {
			return nil, errorf(kindBadRequest, "empty body; send an image file (or multipart/form-data with files)")
		}
		return []classifyFile{{data: body}}, nil
	}
	if params["boundary"] == "" {
		return nil, errorf(kindBadRequest, "multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var files []classifyFile
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errorf(kindBadRequest, "reading the multipart/form-data body: %v", err)
		}
		if p.FileName() == "" && p.FormName() != "file" && p.FormName() != "image" {
			continue
		}
		if len(files) == maxFiles {
			return nil, errorf(kindTooLarge, "more than %d file parts, the most the server queues at once for this model", maxFiles)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, errorf(kindBadRequest, "reading the multipart/form-data body: %v", err)
		}
		name := p.FileName()
		if name == "" {
			name = p.FormName()
		}
		if len(data) == 0 {
			return nil, errorf(kindBadRequest, "the file part %s is empty", quote(name))
		}
		files = append(files, classifyFile{name: name, data: data})
	}
	if len(files) == 0 {
		return nil, errorf(kindBadRequest, "the multipart/form-data body has no file part")
	}
	return files, nil
}
