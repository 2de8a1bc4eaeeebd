package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// httpHandler routes the HTTP port: the OIP v2 REST API under /v2,
// /classify and /metrics. Every error is JSON {"error": "..."}, panics
// included.
func (s *Server) httpHandler() http.Handler {
	metricsH := s.met.handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w}
		defer s.recoverHTTP(rec, r)
		p := r.URL.Path
		switch {
		case p == "/v2" || p == "/v2/":
			if s.allow(rec, r, http.MethodGet) {
				s.serverMetadata(rec)
			}
		case p == "/v2/health/live":
			if s.allow(rec, r, http.MethodGet) {
				writeJSON(rec, http.StatusOK, map[string]bool{"live": true})
			}
		case p == "/v2/health/ready":
			if s.allow(rec, r, http.MethodGet) {
				ready := s.Ready()
				writeJSON(rec, readyStatus(ready), map[string]bool{"ready": ready})
			}
		case strings.HasPrefix(p, "/v2/models/"):
			s.routeModel(rec, r, strings.TrimPrefix(p, "/v2/models/"))
		case strings.HasPrefix(p, "/v2/repository/"):
			s.routeRepository(rec, r, strings.TrimPrefix(p, "/v2/repository/"))
		case p == "/classify":
			if s.allow(rec, r, http.MethodPost) {
				s.countREST(rec, r, s.defaultModel(r.URL.Query().Get("model")), s.classify)
			}
		case p == "/metrics":
			if s.allow(rec, r, http.MethodGet) {
				metricsH.ServeHTTP(rec, r)
			}
		default:
			s.writeError(rec, r, errorf(kindNotFound, "no endpoint %s", clip(p)))
		}
	})
}

// routeModel serves /v2/models/NAME[/versions/V][/ready|/infer|/config].
func (s *Server) routeModel(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.Split(rest, "/")
	name, version := parts[0], ""
	parts = parts[1:]
	if len(parts) >= 2 && parts[0] == "versions" {
		version, parts = parts[1], parts[2:]
	}
	action := ""
	switch {
	case len(parts) == 1 && (parts[0] == "ready" || parts[0] == "infer" || parts[0] == "config"):
		action = parts[0]
	case len(parts) > 0 && !(len(parts) == 1 && parts[0] == ""):
		s.writeError(w, r, errorf(kindNotFound, "no endpoint %s", clip(r.URL.Path)))
		return
	}
	method := http.MethodGet
	if action == "infer" {
		method = http.MethodPost
	}
	if !s.allow(w, r, method) {
		return
	}
	if action == "infer" {
		s.countREST(w, r, name, func(w http.ResponseWriter, r *http.Request) error {
			md, err := s.lookupReady(name, version)
			if err != nil {
				return err
			}
			return s.restInfer(w, r, md)
		})
		return
	}
	md, err := s.lookup(name, version)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch action {
	case "":
		writeJSON(w, http.StatusOK, md.metadata())
	case "config":
		writeJSON(w, http.StatusOK, md.config(s.opts))
	case "ready":
		ready := md.ready() && s.serving.Load()
		writeJSON(w, readyStatus(ready), map[string]any{"name": md.name, "ready": ready})
	}
}

// routeRepository serves Triton's model repository extension:
// POST /v2/repository/index and /v2/repository/models/NAME/load|unload.
func (s *Server) routeRepository(w http.ResponseWriter, r *http.Request, rest string) {
	if !s.allow(w, r, http.MethodPost) {
		return
	}
	if rest == "index" {
		var req struct {
			Ready bool `json:"ready"`
		}
		if err := s.readSmallJSON(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		idx, err := s.index(req.Ready)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, idx)
		return
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] != "models" || (parts[2] != "load" && parts[2] != "unload") {
		s.writeError(w, r, errorf(kindNotFound, "no endpoint %s", clip(r.URL.Path)))
		return
	}
	var req struct {
		Parameters map[string]json.RawMessage `json:"parameters"`
	}
	if err := s.readSmallJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Parameters) > 0 {
		s.writeError(w, r, errorf(kindBadRequest, "%s takes no parameters", parts[2]))
		return
	}
	var err error
	if parts[2] == "load" {
		err = s.load(s.life, parts[1])
	} else {
		err = s.unload(parts[1])
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeBody(w, http.StatusOK, "application/json", nil)
}

// maxSmallJSON bounds the body of a repository request.
const maxSmallJSON = 64 << 10

// readSmallJSON decodes a repository request's optional JSON body (empty:
// v unchanged).
func (s *Server) readSmallJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSmallJSON))
	if err != nil {
		return errorf(kindTooLarge, "request body: %v (at most %d bytes)", err, maxSmallJSON)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(kindBadRequest, "malformed JSON request: %v", err)
	}
	return nil
}

// readyStatus is 200 when ready, else 503, so that Kubernetes probes can
// read the status alone.
func readyStatus(ready bool) int {
	if ready {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

// serverMetadata answers GET /v2.
func (s *Server) serverMetadata(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name": serverName, "version": s.opts.ServerVersion, "extensions": serverExtensions,
	})
}

// serverName and serverExtensions are what server metadata reports.
const serverName = "vkdeit"

var serverExtensions = []string{"binary_tensor_data", "classification", "model_configuration", "model_repository"}

// tensorMeta is a tensor in model metadata.
type tensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// modelMetadataJSON is GET /v2/models/NAME's answer.
type modelMetadataJSON struct {
	Name     string       `json:"name"`
	Versions []string     `json:"versions"`
	Platform string       `json:"platform"`
	Inputs   []tensorMeta `json:"inputs"`
	Outputs  []tensorMeta `json:"outputs"`
}

// platform is the model platform reported in metadata.
const platform = "vkdeit"

// metadata describes the model's tensors. A request uses exactly one of
// the two inputs; -1 is the batch dimension.
func (md *model) metadata() modelMetadataJSON {
	c := md.cfg
	out := modelMetadataJSON{
		Name: md.name, Versions: []string{md.version}, Platform: platform,
		Inputs: []tensorMeta{
			{inputPixels, typeFP32, []int64{-1, int64(c.Channels), int64(c.ImageSize), int64(c.ImageSize)}},
			{inputImage, typeBytes, []int64{-1}},
		},
	}
	for _, n := range md.outputNames() {
		out.Outputs = append(out.Outputs, tensorMeta{n, typeFP32, append([]int64{-1}, md.outputDims(n)...)})
	}
	return out
}

// classCount is the K of Triton's classification extension asked on
// output name: at most the output's width. Only outputs of one dimension
// per image have classes (the attention maps do not).
func (md *model) classCount(name string, k int64) (int, error) {
	dims := md.outputDims(name)
	if len(dims) != 1 {
		return 0, errorf(kindBadRequest, "output %s: classification applies to outputs of one value per class, not %s", name, shapeString(append([]int64{-1}, dims...)))
	}
	return int(min(k, dims[0])), nil
}

// outputDims is an output's shape per image.
func (md *model) outputDims(name string) []int64 {
	switch name {
	case outputEmbedding, outputDistEmbedding:
		return []int64{int64(md.cfg.Hidden)}
	case outputAttention:
		G := int64(md.cfg.ImageSize / md.cfg.PatchSize)
		return []int64{int64(md.cfg.Special()), G, G}
	}
	return []int64{int64(md.cfg.NumLabels)}
}

// allow answers 405 (and returns false) for a method other than want;
// HEAD passes where GET does.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, want string) bool {
	if r.Method == want || (want == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	allowed := want
	if want == http.MethodGet {
		allowed = "GET, HEAD"
	}
	w.Header().Set("Allow", allowed)
	s.writeError(w, r, errorf(kindNotAllowed, "%s %s: method not allowed (use %s)", clip(r.Method), clip(r.URL.Path), allowed))
	return false
}

// countREST runs an inference handler for the model named (as the client
// named it: the metrics' model label), answering its error, and records
// the request in the metrics and the log: at debug when answered, at info
// with the error's text when refused as the client's fault (4xx).
func (s *Server) countREST(w http.ResponseWriter, r *http.Request, model string, h func(http.ResponseWriter, *http.Request) error) {
	s.activeREST.Add(1)
	defer s.activeREST.Add(-1)
	t0 := time.Now()
	err := h(w, r)
	if err != nil {
		s.writeError(w, r, err)
	}
	code := w.(*statusWriter).status
	if r.Context().Err() != nil && code >= 500 {
		code = statusClientClosed
	}
	model = s.metricModel(model)
	took := time.Since(t0).Seconds()
	s.met.requests.WithLabelValues(model, "rest", strconv.Itoa(code)).Inc()
	s.met.duration.WithLabelValues(model, "rest").Observe(took)
	attrs := []any{"protocol", "rest", "model", model, "method", r.Method, "path", r.URL.Path, "status", code, "took_s", took, "remote", r.RemoteAddr}
	if err != nil && code >= 400 && code < 500 && code != statusClientClosed {
		s.log.Info("request refused", append(attrs, "error", toAPIError(err).msg)...)
	} else {
		s.log.Debug("request", attrs...)
	}
}

// metricModel is the model label of a request naming model: the name
// itself when the server has (or had) that model, "" otherwise, so that
// clients cannot grow the metrics with names of their own.
func (s *Server) metricModel(name string) string {
	s.mu.RLock()
	_, ok := s.models[name]
	s.mu.RUnlock()
	if ok {
		return name
	}
	if r := s.opts.Repository; r != nil && name != "" {
		if names, err := r.Models(); err == nil && slices.Contains(names, name) {
			return name
		}
	}
	return ""
}

// writeError answers err as {"error": "..."} with its kind's status,
// logging server-side failures.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	status := ae.kind.httpStatus()
	if ae.kind == kindInternal {
		s.log.Error("request failed", "path", r.URL.Path, "err", err)
	}
	if ae.kind == kindQueueFull || ae.kind == kindUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error": ae.msg})
}

// writeJSON answers v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"encoding the response failed"}`)
	}
	body = append(body, '\n')
	writeBody(w, status, "application/json", body)
}

// writeBody answers a complete body with its length.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body) // a client gone away is no error of ours
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recoverHTTP turns a handler panic into a 500 answer (when nothing was
// written yet) instead of a dropped connection, and logs it.
func (s *Server) recoverHTTP(w *statusWriter, r *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	s.log.Error("handler panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
	if w.status == 0 {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": fmt.Sprintf("internal error: %v", p)})
	}
}
