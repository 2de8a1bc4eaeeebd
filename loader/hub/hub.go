// Models from the Hugging Face Hub.
//
// A model is named on the command line by a directory, a weights file or a Hub
// repo id ("org/name", optionally "org/name@revision"). [ResolveModel] turns any
// of these into [modeldir.Files]: the paths of the weights, config.json and
// preprocessor_config.json. Repo ids go through [Hub.Snapshot], which reads and
// fills the cache exactly as Python's huggingface_hub lays it out, so a model a
// user already fetched with transformers is used as is and a model fetched by
// vkdeit is visible to Python:
//
//	$HF_HUB_CACHE (or $HF_HOME/hub, or $XDG_CACHE_HOME/huggingface/hub, or ~/.cache/huggingface/hub)
//	└── models--org--name/
//	    ├── refs/main                      commit hash the branch pointed to
//	    ├── blobs/<etag>                   file contents, named by the (LFS sha256 or git) etag
//	    ├── snapshots/<commit>/config.json → ../../blobs/<etag>
//	    └── .no_exist/<commit>/<file>      empty marker: the file is not in the repo
//
// Missing files are downloaded from $HF_ENDPOINT with GET
// /{repo}/resolve/{revision}/{file}, after a HEAD that yields the commit
// (X-Repo-Commit), the etag (X-Linked-Etag or ETag) and the size. Blobs are
// written to blobs/<etag>.incomplete and renamed when complete; an interrupted
// download is resumed with a Range request. With HF_HUB_OFFLINE set only the
// cache is used.

package hub

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultModel is the Hub repo used when no model is named: the distilled
// DeiT-Small, the model vkdeit is tuned for.
const DefaultModel = "facebook/deit-small-distilled-patch16-224"

// defaultHubEndpoint is the Hub used when HF_ENDPOINT is unset, as in huggingface_hub.
const defaultHubEndpoint = "https://huggingface.co"

// defaultStall is how long a request may wait for a response, and a
// download for its next bytes, before it is abandoned (a download is then
// resumed by the next attempt), so a dead connection never hangs.
const defaultStall = 20 * time.Second

// Client locates models in the Hugging Face cache and downloads missing files.
// The zero value is usable: it talks to https://huggingface.co with
// http.DefaultClient and caches under the default cache directory.
type Client struct {
	// Endpoint is the Hub base URL (HF_ENDPOINT); "" means https://huggingface.co.
	Endpoint string
	// CacheDir is the huggingface_hub cache directory (HF_HUB_CACHE); "" means
	// the default resolved from the environment as by FromEnv.
	CacheDir string
	// Token is sent as "Authorization: Bearer" to the endpoint host only (HF_TOKEN).
	Token string
	// Offline forbids network access: only the cache is used (HF_HUB_OFFLINE).
	Offline bool
	// HTTP performs the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Progress, when non-nil, is told how each download advances.
	Progress Progress
	// StallTimeout is how long a request may wait for response headers,
	// and a download for its next bytes, before the attempt is abandoned;
	// 0 means 20 s (HF_HUB_DOWNLOAD_TIMEOUT, in seconds). A download is
	// retried, resuming where it stopped, only while attempts make
	// progress: two attempts in a row that receive nothing end it.
	StallTimeout time.Duration

	maxUnsized int64 // defaultMaxUnsized when 0; tests shorten it
}

// FromEnv returns a Client configured the way huggingface_hub reads its
// environment: HF_ENDPOINT; HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else
// $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub; HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the
// token file written by `huggingface-cli login` (HF_TOKEN_PATH or
// $HF_HOME/token); HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE ("1", "true", "yes"
// or "on"); HF_HUB_DOWNLOAD_TIMEOUT (seconds) as StallTimeout.
func FromEnv() *Client {
	h := &Client{
		Endpoint:     strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/"),
		CacheDir:     defaultCacheDir(),
		Token:        envToken(),
		Offline:      envTrue(os.Getenv("HF_HUB_OFFLINE")) || envTrue(os.Getenv("TRANSFORMERS_OFFLINE")),
		HTTP:         newHubClient(),
		StallTimeout: envSeconds(os.Getenv("HF_HUB_DOWNLOAD_TIMEOUT")),
	}
	if h.Endpoint == "" {
		h.Endpoint = defaultHubEndpoint
	}
	return h
}

// newHubClient returns a client that bounds connection setup and the wait
// for response headers, but not the body: weights take as long as they take,
// and stalls are caught per read by the downloader.
func newHubClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}

// envSeconds parses a positive number of seconds, 0 when v is not one.
func envSeconds(v string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || !(f > 0) || f > 24*3600 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// hfHome is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
func hfHome() string {
	if v := os.Getenv("HF_HOME"); v != "" {
		return expandTilde(v)
	}
	if v := os.Getenv("XDG_CACHE_HOME"); v != "" {
		return filepath.Join(expandTilde(v), "huggingface")
	}
	return filepath.Join(expandTilde("~/.cache"), "huggingface")
}

// defaultCacheDir resolves the hub cache directory as huggingface_hub does.
func defaultCacheDir() string {
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if v := os.Getenv(k); v != "" {
			return expandTilde(v)
		}
	}
	return filepath.Join(hfHome(), "hub")
}

// envToken returns HF_TOKEN, else the saved login token, else "".
func envToken() string {
	if v := strings.TrimSpace(os.Getenv("HF_TOKEN")); v != "" {
		return v
	}
	if v := strings.TrimSpace(os.Getenv("HUGGING_FACE_HUB_TOKEN")); v != "" {
		return v
	}
	path := os.Getenv("HF_TOKEN_PATH")
	if path == "" {
		path = filepath.Join(hfHome(), "token")
	}
	b, err := readRegular(expandTilde(path), 4096)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// envTrue reports whether an environment value means "on", as huggingface_hub's
// _is_true does.
func envTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// expandTilde replaces a leading "~" with the user's home directory.
func expandTilde(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

// endpoint returns the Hub base URL without a trailing slash.
func (h *Client) endpoint() string {
	if e := strings.TrimRight(h.Endpoint, "/"); e != "" {
		return e
	}
	return defaultHubEndpoint
}

// cacheDir returns the cache directory, resolving the default when unset.
func (h *Client) cacheDir() string {
	if h.CacheDir != "" {
		return h.CacheDir
	}
	return defaultCacheDir()
}

// client returns the configured HTTP client or http.DefaultClient.
func (h *Client) client() *http.Client {
	if h.HTTP != nil {
		return h.HTTP
	}
	return http.DefaultClient
}

// stallTimeout returns how long a request may wait for headers or bytes.
func (h *Client) stallTimeout() time.Duration {
	if h.StallTimeout > 0 {
		return h.StallTimeout
	}
	return defaultStall
}

// IsRepoID reports whether s has the form of a Hub model repo id,
// "org/name" or "org/name@revision". Each part is 1–96 characters of letters,
// digits, '_', '-' and '.', starting and ending with a letter, digit or '_',
// without "--" or ".." (huggingface_hub's rules), so relative paths such as
// "./x/y" or "../m" and absolute paths are never taken for repo ids. It checks
// the form only; whether a path of that name exists is ResolveModel's concern.
func IsRepoID(s string) bool {
	_, _, err := parseRepoID(s)
	return err == nil
}

// parseRepoID splits "org/name[@rev]" into the repo and revision ("main" when
// absent) and validates both.
func parseRepoID(s string) (repo, rev string, err error) {
	repo, rev = s, "main"
	if i := strings.IndexByte(s, '@'); i >= 0 {
		repo, rev = s[:i], s[i+1:]
		if !validRevision(rev) {
			return "", "", fmt.Errorf("hub: %q: invalid revision %q", s, rev)
		}
	}
	org, name, ok := strings.Cut(repo, "/")
	if !ok || len(repo) > 96 || !validRepoPart(org) || !validRepoPart(name) ||
		strings.Contains(repo, "--") || strings.Contains(repo, "..") {
		return "", "", fmt.Errorf("hub: %q is not a Hugging Face repo id (want org/name or org/name@revision)", s)
	}
	return repo, rev, nil
}

// validRepoPart checks one side of "org/name".
func validRepoPart(p string) bool {
	if p == "" {
		return false
	}
	word := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !word(c) && c != '-' && c != '.' {
			return false
		}
	}
	return word(p[0]) && word(p[len(p)-1])
}

// validRevision accepts branch names, tags, commit hashes and PR refs such as
// "refs/pr/1", which all become paths under refs/: nothing that could escape
// that directory.
func validRevision(r string) bool {
	if r == "" || len(r) > 256 || strings.HasPrefix(r, "/") || strings.HasSuffix(r, "/") {
		return false
	}
	for _, part := range strings.Split(r, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	for _, c := range r {
		if c <= ' ' || c == 0x7f || c == '\\' || c == ':' {
			return false
		}
	}
	return true
}

// isCommitHash reports whether rev is a full 40-hex-digit git commit id.
func isCommitHash(rev string) bool {
	if len(rev) != 40 {
		return false
	}
	for i := 0; i < len(rev); i++ {
		c := rev[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
