package hub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub imitates the Hub's resolve endpoint and its LFS CDN (a second
// server, so a token leaking through a redirect would be seen):
//
//	HEAD/GET /{org}/{name}/resolve/{rev}/{file}
//	  regular file: 200, ETag "<git blob sha1>", X-Repo-Commit
//	  LFS file:     302 → cdn/lfs/<sha256>, X-Linked-Etag "<sha256>", X-Linked-Size, X-Repo-Commit
//	  errors:       401 RepoNotFound, 403 GatedRepo, 404 RevisionNotFound / EntryNotFound
//	GET cdn/lfs/<sha256>: the bytes, honouring "Range: bytes=N-" with 206
type fakeHub struct {
	hub, cdn *httptest.Server
	mu       sync.Mutex
	repos    map[string]*fakeRepo
	blobs    map[string][]byte // sha256 → LFS content
	reqs     []fakeReq
	token    string            // when set, every repo needs "Bearer token"
	gated    bool              // answer 403 GatedRepo without the token
	plain404 bool              // a dumb server: 404 without X-Error-Code for everything
	cuts     []int             // the next CDN bodies stop after this many bytes (connection dropped)
	stallAt  int               // next CDN body stops sending after this many bytes until the client gives up
	noRange  bool              // the CDN ignores Range and always sends 200 with the whole file
	mirror   bool              // like a plain mirror: no X-Linked-* headers, redirects followed for the ETag
	renamed  map[string]string // old repo id → new: 307 with a relative Location, as the Hub does
	hang     bool              // the CDN sends headers and then nothing, until the client gives up
	hangHead bool              // the hub never answers a HEAD
	pad      int               // the CDN sends this many more bytes after the file, chunked (no Content-Length)
	announce map[string]string // file → the size a HEAD announces (X-Linked-Size or Content-Length) instead of the real one
	unsized  bool              // no size anywhere: HEADs without X-Linked-Size or Content-Length, GET bodies chunked
}

// fakeRepo holds the files of each commit and the refs pointing at them.
type fakeRepo struct {
	commits map[string]map[string][]byte
	refs    map[string]string
}

// fakeReq is one request the fake servers saw.
type fakeReq struct {
	server, method, path, rng, auth string
}

// newFakeHub starts both servers; they stop with the test.
func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	f := &fakeHub{repos: map[string]*fakeRepo{}, blobs: map[string][]byte{}}
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	f.cdn = httptest.NewServer(http.HandlerFunc(f.serveCDN))
	t.Cleanup(f.hub.Close)
	t.Cleanup(f.cdn.Close)
	return f
}

// isLFS says which files the fake stores in LFS: the checkpoints, as on the Hub.
func isLFS(file string) bool {
	return strings.HasSuffix(file, ".bin") || strings.HasSuffix(file, ".safetensors")
}

// addCommit adds a commit with the given files to repo and points refs at it.
func (f *fakeHub) addCommit(repo, commit string, files map[string][]byte, refs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repos[repo]
	if r == nil {
		r = &fakeRepo{commits: map[string]map[string][]byte{}, refs: map[string]string{}}
		f.repos[repo] = r
	}
	r.commits[commit] = files
	for _, ref := range refs {
		r.refs[ref] = commit
	}
	for name, b := range files {
		if isLFS(name) {
			f.blobs[sha256Hex(b)] = b
		}
	}
}

// requests returns the requests seen so far and forgets them.
func (f *fakeHub) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

// cdnRanges returns the Range header ("" for none) of each CDN request seen
// so far and forgets all requests.
func (f *fakeHub) cdnRanges() []string {
	var ranges []string
	for _, r := range f.requests() {
		if r.server == "cdn" {
			ranges = append(ranges, r.rng)
		}
	}
	return ranges
}

func (f *fakeHub) record(server string, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, fakeReq{server, r.Method, r.URL.Path, r.Header.Get("Range"), r.Header.Get("Authorization")})
}

func hubErr(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	http.Error(w, msg, status)
}

func (f *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.record("hub", r)
	f.mu.Lock()
	hangHead := f.hangHead
	f.mu.Unlock()
	if hangHead && r.Method == http.MethodHead {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	if f.plain404 {
		http.NotFound(w, r)
		return
	}
	// /org/name/resolve/rev/file, rev escaped as one segment.
	parts := strings.SplitN(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	repo := parts[0] + "/" + parts[1]
	if to, ok := f.renamed[repo]; ok {
		w.Header().Set("Location", "/"+to+"/resolve/"+parts[3]+"/"+parts[4])
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	rev, _ := url.PathUnescape(parts[3])
	file, _ := url.PathUnescape(parts[4])
	f.mu.Lock()
	defer f.mu.Unlock()
	authed := f.token == "" || r.Header.Get("Authorization") == "Bearer "+f.token
	rp := f.repos[repo]
	switch {
	case f.gated && !authed:
		hubErr(w, http.StatusForbidden, "GatedRepo", "Access to model "+repo+" is restricted.")
		return
	case rp == nil || !authed:
		hubErr(w, http.StatusUnauthorized, "RepoNotFound", "Repository Not Found for url: "+r.URL.String())
		return
	}
	commit := rev
	if c, ok := rp.refs[rev]; ok {
		commit = c
	}
	files, ok := rp.commits[commit]
	if !ok {
		hubErr(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	body, ok := files[file]
	if !ok {
		hubErr(w, http.StatusNotFound, "EntryNotFound", file+" does not exist")
		return
	}
	if isLFS(file) && f.mirror {
		w.Header().Set("Location", f.cdn.URL+"/lfs/"+sha256Hex(body))
		w.WriteHeader(http.StatusFound)
		return
	}
	size := strconv.Itoa(len(body))
	if a, ok := f.announce[file]; ok && r.Method == http.MethodHead {
		size = a
	}
	if isLFS(file) {
		sum := sha256Hex(body)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		if !f.unsized {
			w.Header().Set("X-Linked-Size", size)
		}
		w.Header().Set("ETag", `W/"redirect-body-etag"`) // must not name the blob
		w.Header().Set("Location", f.cdn.URL+"/lfs/"+sum+"?X-Amz-Signature=x")
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitBlobSHA1(body)+`"`)
	if f.unsized {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // headers out before the body: chunked, no Content-Length
	} else {
		w.Header().Set("Content-Length", size)
	}
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

func (f *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	f.record("cdn", r)
	f.mu.Lock()
	body, ok := f.blobs[strings.TrimPrefix(r.URL.Path, "/lfs/")]
	cut := -1
	if len(f.cuts) > 0 {
		cut, f.cuts = f.cuts[0], f.cuts[1:]
	}
	stall := f.stallAt
	f.stallAt = 0
	noRange, hang, pad, unsized := f.noRange, f.hang, f.pad, f.unsized
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if f.mirror {
		w.Header().Set("ETag", `"`+sha256Hex(body)+`"`)
	} else {
		w.Header().Set("ETag", `"s3-md5-not-the-blob-name"`)
	}
	start := 0
	if rng := r.Header.Get("Range"); rng != "" && !noRange {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rng, "bytes="), "-"))
		if err != nil || n >= len(body) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(body)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = n
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(body)-1, len(body)))
	}
	rest := body[start:]
	switch {
	case hang:
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case pad > 0 || unsized:
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // headers out before the body: chunked, no Content-Length
		w.Write(rest)
		junk := make([]byte, 64<<10)
		for left := pad; left > 0 && r.Context().Err() == nil; left -= len(junk) {
			w.Write(junk[:min(left, len(junk))])
		}
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(rest)))
	if start > 0 {
		w.WriteHeader(http.StatusPartialContent)
	}
	switch {
	case cut >= 0 && cut < len(rest):
		w.Write(rest[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	case stall > 0 && stall < len(rest):
		w.Write(rest[:stall])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		panic(http.ErrAbortHandler)
	}
	w.Write(rest)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// gitBlobSHA1 is the git object id of b, the Hub's ETag for a regular file.
func gitBlobSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// fakeCommit returns a reproducible 40-hex commit id.
func fakeCommit(seed string) string {
	s := sha1.Sum([]byte(seed))
	return hex.EncodeToString(s[:])
}
