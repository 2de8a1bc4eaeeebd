package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// hubUserAgent identifies vkdeit to the Hub.
const hubUserAgent = "vkdeit/0.1 (Go)"

// maxHubRedirects bounds the redirect chain of one request.
const maxHubRedirects = 10

// fileMeta is what a HEAD on a resolve URL tells about one file.
type fileMeta struct {
	commit string // X-Repo-Commit
	etag   string // X-Linked-Etag (LFS: the sha256) or ETag, quotes stripped
	size   int64  // X-Linked-Size or Content-Length; -1 when unknown
	linked bool   // etag came from X-Linked-Etag (an LFS file)
}

// hubError is an HTTP error answer from the Hub, with huggingface_hub's
// X-Error-Code ("RepoNotFound", "RevisionNotFound", "EntryNotFound",
// "GatedRepo") when the server sends one.
type hubError struct {
	status   int
	code     string
	msg      string
	url      string
	repo     string
	rev      string
	file     string
	endpoint string
	token    bool
}

// Error explains the failure and what to do about it.
func (e *hubError) Error() string {
	detail := ""
	if e.msg != "" {
		detail = ": " + e.msg
	}
	where := fmt.Sprintf("HTTP %d from %s%s", e.status, e.url, detail)
	tokenHint := "set HF_TOKEN to a token that can read it"
	if e.token {
		tokenHint = "the token in HF_TOKEN was refused or has no access to it"
	}
	switch {
	case e.code == "GatedRepo":
		return fmt.Sprintf("hub: %s is a gated repo (%s); accept its terms at %s/%s and %s",
			e.repo, where, e.endpoint, e.repo, tokenHint)
	case e.code == "RepoNotFound" || e.status == http.StatusUnauthorized:
		return fmt.Sprintf("hub: repository %s not found or not accessible (%s); check the repo id, and if it is private or gated, %s",
			e.repo, where, tokenHint)
	case e.status == http.StatusForbidden:
		return fmt.Sprintf("hub: access to %s denied (%s); %s", e.repo, where, tokenHint)
	case e.code == "RevisionNotFound":
		return fmt.Sprintf("hub: revision %q not found in %s (%s)", e.rev, e.repo, where)
	case e.status == http.StatusNotFound:
		return fmt.Sprintf("hub: %s: %s not found at revision %q (%s)", e.repo, e.file, e.rev, where)
	}
	return fmt.Sprintf("hub: %s: downloading %s failed (%s)", e.repo, e.file, where)
}

// isEntryNotFound reports whether err says that the repo and revision exist
// but the file does not (a 404 that is not about the repo or revision).
func isEntryNotFound(err error) bool {
	var he *hubError
	return errors.As(err, &he) && he.status == http.StatusNotFound &&
		he.code != "RepoNotFound" && he.code != "RevisionNotFound" && he.code != "GatedRepo"
}

// fileURL is the resolve URL of file at rev, escaped as huggingface_hub does
// (the revision as one path segment, so "refs/pr/1" stays one).
func (h *Client) fileURL(repo, rev, file string) string {
	return h.endpoint() + "/" + repo + "/resolve/" + url.PathEscape(rev) + "/" + file
}

// roundTrip sends one request without following redirects. The token goes
// only to the endpoint's own host, never to a CDN or other host a redirect
// points at.
func (h *Client) roundTrip(ctx context.Context, method, u string, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("hub: %s: %w", u, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", hubUserAgent)
	// identity: sizes and byte ranges refer to the stored bytes, not a gzip stream.
	req.Header.Set("Accept-Encoding", "identity")
	if h.Token != "" && sameHost(u, h.endpoint()) {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	c := *h.client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error already names the method and the URL. Its text may
		// quote what the server sent (a malformed header line of
		// megabytes): it is cut.
		return nil, fmt.Errorf("hub: %w", &cutError{err})
	}
	return resp, nil
}

// cutError is err with its message cut to maxErrorText bytes.
type cutError struct{ err error }

// maxErrorText bounds the text of transport errors.
const maxErrorText = 400

func (e *cutError) Error() string {
	s := e.err.Error()
	if len(s) <= maxErrorText {
		return s
	}
	return s[:maxErrorText] + fmt.Sprintf("… (%d bytes)", len(s))
}

func (e *cutError) Unwrap() error { return e.err }

// sameHost reports whether two URLs have the same scheme, host and port.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}

// redirectTarget returns the absolute URL a 3xx response points to, "" when
// the response is not a redirect.
func redirectTarget(resp *http.Response, from string) (string, error) {
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return "", nil
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", nil
	}
	base, err := url.Parse(from)
	if err != nil {
		return "", fmt.Errorf("hub: %s: %w", from, err)
	}
	next, err := base.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("hub: %s: bad redirect Location %q: %w", from, loc, err)
	}
	return next.String(), nil
}

// head learns the commit, etag and size of file at rev without downloading
// it. The Hub answers a HEAD on an LFS file with a redirect to its CDN that
// already carries X-Repo-Commit, X-Linked-Etag and X-Linked-Size, so, like
// huggingface_hub, the chain stops there. Other redirects (renamed repos, or
// a mirror that sends no X-Linked headers) are followed until a 2xx answer,
// whose ETag and Content-Length then count. Headers seen first win.
func (h *Client) head(ctx context.Context, repo, rev, file string) (fileMeta, error) {
	m := fileMeta{size: -1}
	u := h.fileURL(repo, rev, file)
	// A HEAD has no body to watch: the whole exchange gets the stall time.
	ctx, cancel := context.WithTimeoutCause(ctx, h.stallTimeout(), errStalled)
	defer cancel()
	for range maxHubRedirects {
		resp, err := h.roundTrip(ctx, http.MethodHead, u, nil)
		if err != nil {
			return m, stallCause(ctx, err)
		}
		resp.Body.Close()
		next, err := redirectTarget(resp, u)
		if err != nil {
			return m, err
		}
		if next == "" && (resp.StatusCode < 200 || resp.StatusCode > 299) {
			return m, h.statusError(resp, u, repo, rev, file)
		}
		m.collect(resp, next == "")
		if next == "" || (m.commit != "" && m.etag != "") {
			return m, nil
		}
		u = next
	}
	return m, fmt.Errorf("hub: %s: more than %d redirects", h.fileURL(repo, rev, file), maxHubRedirects)
}

// collect fills the fields of m still unknown from one response's headers.
// Generic headers (ETag, Content-Length) count only on the final answer; a
// redirect's describe the redirect itself.
func (m *fileMeta) collect(resp *http.Response, final bool) {
	hd := resp.Header
	if m.commit == "" {
		m.commit = hd.Get("X-Repo-Commit")
	}
	if m.etag == "" {
		if e := hd.Get("X-Linked-Etag"); e != "" {
			m.etag, m.linked = normalizeEtag(e), true
		} else if e := hd.Get("ETag"); e != "" && final {
			m.etag = normalizeEtag(e)
		}
	}
	if m.size < 0 {
		if n, err := strconv.ParseInt(hd.Get("X-Linked-Size"), 10, 64); err == nil && n >= 0 {
			m.size = n
		} else if final && resp.ContentLength >= 0 {
			m.size = resp.ContentLength
		}
	}
}

// normalizeEtag strips a weak-validator prefix and quotes, as huggingface_hub
// does before naming the blob.
func normalizeEtag(e string) string {
	e = strings.TrimSpace(e)
	e = strings.TrimPrefix(e, "W/")
	return strings.Trim(e, `"`)
}

// validEtag reports whether an etag can name a file in blobs/.
func validEtag(e string) bool {
	if e == "" || e == "." || e == ".." || len(e) > 200 {
		return false
	}
	return !strings.ContainsAny(e, `/\:*?<>|`+"\x00")
}

// get sends a GET following redirects (Range and other headers kept, the
// token only for the endpoint host) and returns the final response.
func (h *Client) get(ctx context.Context, u string, hdr http.Header) (*http.Response, string, error) {
	start := u
	for range maxHubRedirects {
		resp, err := h.roundTrip(ctx, http.MethodGet, u, hdr)
		if err != nil {
			return nil, u, err
		}
		next, err := redirectTarget(resp, u)
		if err != nil || next == "" {
			if err != nil {
				resp.Body.Close()
			}
			return resp, u, err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		u = next
	}
	return nil, u, fmt.Errorf("hub: %s: more than %d redirects", start, maxHubRedirects)
}

// statusError turns an HTTP error response into a hubError.
func (h *Client) statusError(resp *http.Response, u, repo, rev, file string) error {
	return &hubError{
		status: resp.StatusCode, code: resp.Header.Get("X-Error-Code"), msg: errorMessage(resp), url: u,
		repo: repo, rev: rev, file: file, endpoint: h.endpoint(), token: h.Token != "",
	}
}

// maxErrorMessage bounds the server's words quoted in an error.
const maxErrorMessage = 200

// errorMessage is what an HTTP error response says about itself, fit for
// printing: X-Error-Message, else a short plain-text body, else the status
// text. Control characters are escaped and long messages cut.
func errorMessage(resp *http.Response) string {
	msg := resp.Header.Get("X-Error-Message")
	if msg == "" && resp.Request != nil && resp.Request.Method != http.MethodHead && resp.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg = strings.TrimSpace(string(b))
		if strings.ContainsAny(msg, "<\n") { // an HTML page or a long text: not worth printing
			msg = ""
		}
	}
	if msg == "" {
		return http.StatusText(resp.StatusCode)
	}
	return printable(msg, maxErrorMessage)
}

// printable returns s cut to at most n bytes (marked with "…"), with
// control characters and invalid UTF-8 escaped as strconv.Quote does.
func printable(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	q := strconv.Quote(s)
	q = q[1 : len(q)-1]
	if cut {
		q += "…"
	}
	return q
}
