package server

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/classify"
)

func TestClassify(t *testing.T) {
	m := tinyModel(t)
	eng := refEngine(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny", MaxRequestBytes: 1 << 20})
	jpg := readFile(t, "../samples/grace_hopper.jpg")
	logits := imageLogits(t, m, eng, jpg)
	top := func(k int) []map[string]any {
		preds, err := classify.TopK(logits, k, m.Config.Labels)
		require.NoError(t, err)
		var out []map[string]any
		for _, p := range preds {
			out = append(out, map[string]any{"label": p.Label, "score": p.Score})
		}
		return out
	}
	multipartBody := func(field, filename string, data []byte) (http.Header, []byte) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		require.NoError(t, mw.WriteField("note", "ignored"))
		var fw interface{ Write([]byte) (int, error) }
		var err error
		if filename != "" {
			fw, err = mw.CreateFormFile(field, filename)
		} else {
			fw, err = mw.CreateFormField(field)
		}
		require.NoError(t, err)
		_, err = fw.Write(data)
		require.NoError(t, err)
		require.NoError(t, mw.Close())
		return http.Header{"Content-Type": {mw.FormDataContentType()}}, buf.Bytes()
	}
	mpH, mpB := multipartBody("upload", "photo.jpg", jpg)
	namedH, namedB := multipartBody("image", "", jpg)
	noFileH, noFileB := multipartBody("other", "", jpg)
	emptyH, emptyB := multipartBody("file", "x.jpg", nil)

	tests := []struct {
		name   string
		query  string
		header http.Header
		body   []byte
		status int
		want   []map[string]any // the ranking, for 200
		msg    string           // part of the error, otherwise
	}{
		{"raw body", "", http.Header{"Content-Type": {"image/jpeg"}}, jpg, 200, top(5), ""},
		{"top_k", "?top_k=3", nil, jpg, 200, top(3), ""},
		{"top_k over labels", "?top_k=50", nil, jpg, 200, top(10), ""},
		{"multipart file", "?top_k=2", mpH, mpB, 200, top(2), ""},
		{"multipart image field", "", namedH, namedB, 200, top(5), ""},
		{"top_k zero", "?top_k=0", nil, jpg, 400, nil, "top_k"},
		{"top_k word", "?top_k=all", nil, jpg, 400, nil, "top_k"},
		{"empty body", "", nil, nil, 400, nil, "empty body"},
		{"not an image", "", nil, []byte("plain text"), 400, nil, "image 0"},
		{"multipart without file", "", noFileH, noFileB, 400, nil, "no file part"},
		{"multipart empty file", "", emptyH, emptyB, 400, nil, "is empty"},
		{"multipart no boundary", "", http.Header{"Content-Type": {"multipart/form-data"}}, jpg, 400, nil, "boundary"},
		{"too large", "", nil, make([]byte, 1<<20+1), 413, nil, "over the server's limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := httpDo(t, "POST", ts.url+"/classify"+tt.query, tt.header, tt.body)
			require.Equal(t, tt.status, status, "%s", body)
			require.Equal(t, "application/json", h.Get("Content-Type"))
			if tt.status != 200 {
				require.Contains(t, errorBody(t, body), tt.msg)
				return
			}
			var got []map[string]any
			require.NoError(t, json.Unmarshal(body, &got))
			require.Equal(t, tt.want, got)
		})
	}
	require.Equal(t, 5.0, counterValue(t, ts, `vkdeit_inference_requests_total{code="200",model="tiny",protocol="rest"}`))
}
