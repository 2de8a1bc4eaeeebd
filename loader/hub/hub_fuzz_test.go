package hub

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// inside reports whether path lies strictly inside dir.
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// FuzzRepoID fuzzes repo id and revision parsing. Whatever is accepted
// must keep every cache path inside the cache directory (the repo folder,
// its refs, its snapshots) and give a resolve URL in which the revision is
// one path segment.
func FuzzRepoID(f *testing.F) {
	for _, s := range []string{"facebook/deit-small-distilled-patch16-224", "acme/x@refs/pr/1", "acme/x@v1.0",
		"acme/x@0123456789abcdef0123456789abcdef01234567", "../x", "acme/x@../../etc", "a/b@c/../d", "a/b@%2e%2e", "a/b@x?y#z"} {
		f.Add(s)
	}
	cache := filepath.Join(string(filepath.Separator), "cache", "hub")
	f.Fuzz(func(t *testing.T, s string) {
		repo, rev, err := parseRepoID(s)
		if IsRepoID(s) != (err == nil) {
			t.Fatalf("IsRepoID disagrees with parseRepoID on %q", s)
		}
		if err != nil {
			return
		}
		rc := newRepoCache(cache, repo)
		if !inside(cache, rc.root) || filepath.Dir(rc.root) != cache {
			t.Fatalf("repo %q: cache folder %s outside %s", repo, rc.root, cache)
		}
		if !inside(filepath.Join(cache, ".locks"), rc.lock) {
			t.Fatalf("repo %q: lock folder %s", repo, rc.lock)
		}
		if !inside(filepath.Join(rc.root, "refs"), rc.refPath(rev)) {
			t.Fatalf("revision %q: ref %s outside %s/refs", rev, rc.refPath(rev), rc.root)
		}
		if isCommitHash(rev) && filepath.Dir(rc.snapshotDir(rev)) != filepath.Join(rc.root, "snapshots") {
			t.Fatalf("commit %q: snapshot %s", rev, rc.snapshotDir(rev))
		}
		h := &Client{Endpoint: "https://hub.example"}
		u, err := url.Parse(h.fileURL(repo, rev, modeldir.ConfigFile))
		if err != nil {
			t.Fatalf("resolve URL of %q: %v", s, err)
		}
		parts := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
		if len(parts) != 5 || parts[2] != "resolve" || parts[4] != modeldir.ConfigFile || u.RawQuery != "" || u.Fragment != "" || u.Host != "hub.example" {
			t.Fatalf("resolve URL %s of %q does not keep the revision one segment", u, s)
		}
		if got, err := url.PathUnescape(parts[3]); err != nil || got != rev {
			t.Fatalf("resolve URL %s: revision %q, want %q", u, got, rev)
		}
	})
}

// FuzzHubHeaders fuzzes what the downloader reads from response headers:
// the metadata of a HEAD (commit, etag, size), Content-Range and error
// messages. An etag accepted as a blob name must name a file inside blobs/,
// a parsed Content-Range must be a valid range, and an error message must be
// short and free of control characters.
func FuzzHubHeaders(f *testing.F) {
	f.Add(`"a1b2"`, `"`+strings.Repeat("ab", 32)+`"`, "1234", int64(10), strings.Repeat("0", 40), "bytes 0-9/10", "Repository Not Found", true)
	f.Add(`W/"x"`, "", "", int64(-1), "", "bytes */10", "\x1b[2J", false)
	f.Add("../../etc/passwd", `"/x"`, "-5", int64(0), "zz", "bytes 5-4/10", strings.Repeat("é", 300), true)
	f.Add(`".."`, `"a\\b"`, "99999999999999999999", int64(1<<62), "", "bytes 00-+1/*", "line\nbreak", true)
	cache := filepath.Join(string(filepath.Separator), "cache", "hub")
	rc := newRepoCache(cache, "acme/x")
	f.Fuzz(func(t *testing.T, etag, linkedEtag, linkedSize string, contentLength int64, commit, contentRange, errMsg string, final bool) {
		resp := &http.Response{Header: http.Header{}, ContentLength: contentLength, StatusCode: 500,
			Request: &http.Request{Method: http.MethodHead}}
		for k, v := range map[string]string{"ETag": etag, "X-Linked-Etag": linkedEtag, "X-Linked-Size": linkedSize,
			"X-Repo-Commit": commit, "Content-Range": contentRange, "X-Error-Message": errMsg} {
			if v != "" {
				resp.Header.Set(k, v)
			}
		}
		m := fileMeta{size: -1}
		m.collect(resp, final)
		if m.size < -1 {
			t.Fatalf("size %d", m.size)
		}
		if validEtag(m.etag) {
			if filepath.Dir(rc.blobPath(m.etag)) != filepath.Join(rc.root, "blobs") {
				t.Fatalf("etag %q names %s, outside blobs/", m.etag, rc.blobPath(m.etag))
			}
			if filepath.Dir(filepath.Join(rc.lock, m.etag+".lock")) != rc.lock {
				t.Fatalf("etag %q: lock outside .locks/", m.etag)
			}
		}
		if isCommitHash(m.commit) && filepath.Dir(rc.snapshotDir(m.commit)) != filepath.Join(rc.root, "snapshots") {
			t.Fatalf("commit %q: snapshot %s", m.commit, rc.snapshotDir(m.commit))
		}
		if cr, ok := parseContentRange(contentRange); ok {
			if cr.start < 0 || cr.end < cr.start || (cr.total != -1 && cr.end >= cr.total) {
				t.Fatalf("Content-Range %q parsed as %+v", contentRange, cr)
			}
			if !strings.Contains(contentRange, strconv.FormatInt(cr.end, 10)) {
				t.Fatalf("Content-Range %q parsed as %+v", contentRange, cr)
			}
		}
		msg := errorMessage(resp)
		if len(msg) > 4*maxErrorMessage+8 {
			t.Fatalf("error message of %d bytes", len(msg))
		}
		for _, r := range msg {
			if r < ' ' || r == 0x7f {
				t.Fatalf("error message %q holds a control character", msg)
			}
		}
		if q := quoteShort(etag); len(q) > 4*64+40 {
			t.Fatalf("quoteShort gave %d bytes", len(q))
		}
	})
}
