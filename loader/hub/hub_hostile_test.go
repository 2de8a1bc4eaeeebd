package hub

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/internal/regfile/regfiletest"
)

// cdnGets counts the CDN requests seen so far (and forgets all requests).
func (f *fakeHub) cdnGets() int {
	n := 0
	for _, r := range f.requests() {
		if r.server == "cdn" && r.method == http.MethodGet {
			n++
		}
	}
	return n
}

// TestHubBodyLongerThanAnnounced has the CDN send 56 times more bytes than
// the HEAD announced, in a chunked body: the download stops at the
// announced size, and the file (checked against its sha256) is right.
func TestHubBodyLongerThanAnnounced(t *testing.T) {
	f := newFakeHub(t)
	files := testModel("model.safetensors", 100_000)
	f.addCommit(testRepo, fakeCommit("pad"), files, "main")
	f.pad = 55 * 100_000
	h := testHub(t, f)
	mf, err := h.Snapshot(context.Background(), testRepo)
	require.NoError(t, err)
	requireCachedFile(t, h, mf.Weights, sha256Hex(files["model.safetensors"]), files["model.safetensors"])
}

// TestHubStalledServer has the CDN send headers and then nothing: each
// attempt ends after the stall timeout, and two attempts in a row that
// receive nothing end the download (before: five, 5 × 60 s).
func TestHubStalledServer(t *testing.T) {
	f := newFakeHub(t)
	f.addCommit(testRepo, fakeCommit("hang"), testModel("model.safetensors", 10_000), "main")
	f.hang = true
	h := testHub(t, f)
	h.StallTimeout = 150 * time.Millisecond
	var err error
	start := time.Now()
	regfiletest.Within(t, 10*time.Second, func() { _, err = h.Snapshot(context.Background(), testRepo) })
	require.ErrorIs(t, err, errStalled)
	require.ErrorContains(t, err, "gave up after 2 attempts in a row received nothing")
	require.Equal(t, 2, f.cdnGets())
	require.Less(t, time.Since(start), 3*time.Second)
}

// TestHubHeadNeverAnswers has the Hub accept a HEAD and never answer: the
// HEAD gives up after the stall timeout even with a client without timeouts.
func TestHubHeadNeverAnswers(t *testing.T) {
	f := newFakeHub(t)
	f.addCommit(testRepo, fakeCommit("hanghead"), testModel("model.safetensors", 100), "main")
	f.hangHead = true
	h := testHub(t, f)
	h.StallTimeout = 150 * time.Millisecond
	var err error
	regfiletest.Within(t, 5*time.Second, func() { _, err = h.Snapshot(context.Background(), testRepo) })
	require.ErrorIs(t, err, errStalled)
	require.ErrorContains(t, err, "config.json")
}

// TestHubRetryable pins which failures a download retries.
func TestHubRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&hubError{status: 503}, true},
		{&hubError{status: 429}, true},
		{&hubError{status: 408}, true},
		{&hubError{status: 404}, false},
		{&hubError{status: 403}, false},
		{&blobVerifyError{"sha256"}, false},
		{fmt.Errorf("hub: writing x: %w", local(syscall.ENOSPC)), false},
		{fmt.Errorf("hub: %w", local(syscall.EROFS)), false},
		{fmt.Errorf("hub: reading x: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("hub: reading x: %w (%w)", context.Canceled, errStalled), true},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
	} {
		require.Equal(t, tc.want, retryable(tc.err), "%v", tc.err)
	}
}

// TestHubErrorMessageEscaped has the Hub answer with long, hostile error
// messages and headers: what the error quotes of them is cut and escaped.
func TestHubErrorMessageEscaped(t *testing.T) {
	for _, tc := range []struct {
		name, header, value, want string
	}{
		{"X-Error-Message", "X-Error-Message", "\u202epwned " + strings.Repeat("A", 5000), `\u202epwned AAAA`},
		{"malformed header line", "X-Junk", "\x1b]0;pwned\x07" + strings.Repeat("B", 100_000), `\x1b]0;pwned\aBBBB`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptestServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(tc.header, tc.value)
				w.WriteHeader(http.StatusInternalServerError)
			})
			h := &Client{Endpoint: srv, CacheDir: t.TempDir()}
			_, err := h.Snapshot(context.Background(), testRepo)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "\x1b")
			require.NotContains(t, err.Error(), "\u202e")
			require.Contains(t, err.Error(), tc.want)
			require.Less(t, len(err.Error()), 800, err.Error())
		})
	}
}

// httptestServer serves handler on loopback for the test's duration and
// returns its URL.
func httptestServer(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL
}
