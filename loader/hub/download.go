package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vkdeit/vkdeit/internal/humanize"
	"github.com/vkdeit/vkdeit/internal/regfile"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// maxDownloadAttempts bounds how often one blob download is retried after a
// connection failure; each retry resumes where the last one stopped.
const maxDownloadAttempts = 5

// maxIdleAttempts ends the retries after that many attempts in a row that
// received nothing: a server that sends headers and then no bytes costs two
// stall timeouts, not five.
const maxIdleAttempts = 2

// maxConfigBytes and maxPreprocessorBytes bound config.json and
// preprocessor_config.json as their readers do (package deit refuses a
// config.json over 16 MiB, package imageio a preprocessor_config.json over
// 1 MiB): a larger one is refused from the size the HEAD announces, before
// anything is fetched, and a body without an announced size is cut there.
const (
	maxConfigBytes       = 16 << 20
	maxPreprocessorBytes = 1 << 20
)

// defaultMaxUnsized bounds a weights download whose size the server does
// not announce (a mirror without X-Linked-Size or Content-Length), so that
// an endless body cannot fill the disk: 4 GiB, over ten times the largest
// DeiT checkpoint (DeiT-B/384, 350 MB in float32) and above ViT-H's 2.5 GB.
// An announced size is not capped; it must fit in the free disk space.
const defaultMaxUnsized = 4 << 30

// maxFileBytes returns the most bytes file may have whatever the server
// announces, or -1 when only the free space bounds it (weights).
func maxFileBytes(file string) int64 {
	switch file {
	case modeldir.ConfigFile:
		return maxConfigBytes
	case modeldir.PreprocessorFile:
		return maxPreprocessorBytes
	}
	return -1
}

// maxBodyBytes returns how many bytes a download of file may take when the
// server announces no size.
func (h *Client) maxBodyBytes(file string) int64 {
	if n := maxFileBytes(file); n >= 0 {
		return n
	}
	if h.maxUnsized > 0 {
		return h.maxUnsized
	}
	return defaultMaxUnsized
}

// hubTarget names one file of a repo at a revision.
type hubTarget struct{ repo, rev, file string }

// errStalled cancels a request whose body stopped delivering bytes.
var errStalled = errors.New("no data received for too long")

// downloadBlob stores the file t (its resolve URL, following redirects) as
// blobs/<etag>, unless it is there already. Bytes go to blobs/<etag>.incomplete, which
// survives a failure so that the next attempt (in this call or a later run)
// resumes it with a Range request; the file is renamed into place only once
// its size (and, for LFS files, its sha256) checks out. A lock file under
// .locks/ keeps two processes from writing the same blob.
func (h *Client) downloadBlob(ctx context.Context, rc repoCache, t hubTarget, m fileMeta) error {
	u := h.fileURL(t.repo, t.rev, t.file)
	blob := rc.blobPath(m.etag)
	if isRegularFile(blob) {
		return nil
	}
	if limit := maxFileBytes(t.file); limit >= 0 && m.size > limit {
		return &blobVerifyError{fmt.Sprintf("hub: %s: the server announces %d bytes, more than the %d a %s may have",
			u, m.size, limit, t.file)}
	}
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(rc.lock, m.etag+".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if isRegularFile(blob) { // another process finished it while we waited
		return nil
	}
	tmp := blob + ".incomplete"
	if m.size >= 0 {
		need := m.size
		if st, err := os.Stat(tmp); err == nil && st.Size() <= m.size {
			need -= st.Size() // resumed from there
		}
		if err := checkFreeSpace(filepath.Dir(tmp), need); err != nil {
			return fmt.Errorf("hub: downloading %s: %w", u, err)
		}
	}
	bar := newProgress(h.Progress, t.file, m.size)
	var lastErr error
	attempts, idle := 0, 0
	for attempts < maxDownloadAttempts && idle < maxIdleAttempts {
		if attempts > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("hub: downloading %s: %w", u, context.Cause(ctx))
			case <-time.After(time.Duration(attempts) * 250 * time.Millisecond):
			}
		}
		attempts++
		var got int64
		got, lastErr = h.fetchInto(ctx, t, tmp, m, bar)
		if lastErr == nil || ctx.Err() != nil || !retryable(lastErr) {
			break
		}
		if got > 0 {
			idle = 0
		} else {
			idle++
		}
	}
	if lastErr != nil {
		var ve *blobVerifyError
		if errors.As(lastErr, &ve) {
			os.Remove(tmp)
			return fmt.Errorf("%w (partial file removed)", lastErr)
		}
		if !retryable(lastErr) || ctx.Err() != nil {
			return lastErr
		}
		why := fmt.Sprintf("gave up after %d attempts", attempts)
		if idle >= maxIdleAttempts {
			why = fmt.Sprintf("gave up after %d attempts in a row received nothing", idle)
		}
		if st, err := os.Stat(tmp); err == nil && st.Size() > 0 {
			return fmt.Errorf("%w (%s; the %d bytes received are kept in %s and the next run resumes from there)",
				lastErr, why, st.Size(), tmp)
		}
		return fmt.Errorf("%w (%s)", lastErr, why)
	}
	if err := verifyBlob(tmp, m); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("hub: downloading %s: %w (partial file removed; run again)", u, err)
	}
	if err := os.Rename(tmp, blob); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// retryable reports whether a failed attempt may succeed if resumed: a
// connection problem, a stall or a server-side (5xx, 408, 429) error — not a
// refusal, wrong bytes, or a local file-system failure such as a full disk.
func retryable(err error) bool {
	var he *hubError
	if errors.As(err, &he) {
		return he.status >= 500 || he.status == http.StatusRequestTimeout || he.status == http.StatusTooManyRequests
	}
	var ve *blobVerifyError
	var le *localError
	return !errors.As(err, &ve) && !errors.As(err, &le)
}

// blobVerifyError marks a download whose bytes are wrong, which no retry fixes.
type blobVerifyError struct{ msg string }

func (e *blobVerifyError) Error() string { return e.msg }

// fetchInto appends the missing tail of u to tmp and returns how many bytes
// it received. It asks for "Range: bytes=N-" when tmp already holds N bytes
// and starts over when the server answers with the whole file (200) instead
// of the range (206). It never writes more than the size the HEAD announced:
// a body that runs on past it is cut there (the size and digest checks then
// judge what was kept). Without an announced size a body is refused once it
// runs past maxBodyBytes.
func (h *Client) fetchInto(ctx context.Context, t hubTarget, tmp string, m fileMeta, bar *progress) (int64, error) {
	u := h.fileURL(t.repo, t.rev, t.file)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|regfile.NonBlock, 0o644)
	if err != nil {
		return 0, fmt.Errorf("hub: %w", local(err))
	}
	defer f.Close()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("hub: %s: %w", tmp, local(err))
	}
	if m.size >= 0 && off > m.size { // not the file we expect: start over
		if err := truncateAt(f, 0); err != nil {
			return 0, fmt.Errorf("hub: %s: %w", tmp, local(err))
		}
		off = 0
	}
	if m.size >= 0 && off == m.size {
		bar.set(off)
		return 0, nil // complete; only the rename was missing
	}
	limit := m.size
	if limit < 0 {
		limit = h.maxBodyBytes(t.file)
		if off > limit { // not the file we expect: start over
			if err := truncateAt(f, 0); err != nil {
				return 0, fmt.Errorf("hub: %s: %w", tmp, local(err))
			}
			off = 0
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := h.stallTimeout()
	watchdog := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer watchdog.Stop()

	hdr := http.Header{}
	if off > 0 {
		hdr.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, final, err := h.get(ctx, u, hdr)
	if err != nil {
		return 0, stallCause(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		cr, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || cr.start != off || (m.size >= 0 && cr.total >= 0 && cr.total != m.size) {
			// A range we did not ask for: drop it and fetch the whole file next time.
			if err := truncateAt(f, 0); err != nil {
				return 0, fmt.Errorf("hub: %s: %w", tmp, local(err))
			}
			return 0, fmt.Errorf("hub: %s: asked for bytes from %d of %d, got Content-Range %s", final, off, m.size, quoteShort(resp.Header.Get("Content-Range")))
		}
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent:
		if off > 0 { // the server ignored the range: the body is the whole file
			if err := truncateAt(f, 0); err != nil {
				return 0, fmt.Errorf("hub: %s: %w", tmp, local(err))
			}
			off = 0
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && off > 0:
		if m.size < 0 {
			return 0, nil // nothing after byte off: the file is complete
		}
		if err := truncateAt(f, 0); err != nil {
			return 0, fmt.Errorf("hub: %s: %w", tmp, local(err))
		}
		return 0, fmt.Errorf("hub: %s: range from byte %d refused (HTTP 416); starting over", final, off)
	default:
		return 0, h.statusError(resp, final, t.repo, t.rev, t.file)
	}
	bar.set(off)
	var body io.Reader = &watchedReader{r: resp.Body, timer: watchdog, stall: stall}
	if m.size >= 0 {
		body = io.LimitReader(body, m.size-off)
	} else {
		body = io.LimitReader(body, limit-off+1) // one byte more shows the body is too long
	}
	n, err := io.Copy(io.MultiWriter(localWriter{f}, bar), body)
	if m.size < 0 && off+n > limit {
		return n, &blobVerifyError{fmt.Sprintf("hub: %s: the server announced no size and sent more than the %d bytes a %s may have",
			final, limit, t.file)}
	}
	if err != nil {
		var le *localError
		if errors.As(err, &le) {
			return n, fmt.Errorf("hub: writing %s: %w", tmp, err)
		}
		return n, fmt.Errorf("hub: reading %s: %w", final, stallCause(ctx, err))
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("hub: %s: %w", tmp, local(err))
	}
	return n, nil
}

// checkFreeSpace returns a localError when need more bytes do not fit on the
// file system holding dir (where free space can be asked; elsewhere a full
// disk shows as ENOSPC while writing).
func checkFreeSpace(dir string, need int64) error {
	free, ok := freeSpace(dir)
	if !ok || need <= free {
		return nil
	}
	return local(fmt.Errorf("%d more bytes (%s) needed but %d (%s) free on the file system of %s",
		need, humanize.Bytes(need), free, humanize.Bytes(free), dir))
}

// stallCause reports the watchdog's reason when it ended the request.
func stallCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
		return fmt.Errorf("%w (%w)", err, errStalled)
	}
	return err
}

// truncateAt empties f (n = 0) and moves its offset to n.
func truncateAt(f *os.File, n int64) error {
	if err := f.Truncate(n); err != nil {
		return err
	}
	_, err := f.Seek(n, io.SeekStart)
	return err
}

// contentRange is a parsed "Content-Range: bytes START-END/TOTAL" value;
// total is -1 for "*".
type contentRange struct{ start, end, total int64 }

// parseContentRange parses a 206 answer's Content-Range (RFC 9110 §14.4):
// 0 ≤ start ≤ end, and end < total when the total is known.
func parseContentRange(v string) (contentRange, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return contentRange{}, false
	}
	span, totalStr, ok := strings.Cut(strings.TrimSpace(rest), "/")
	if !ok {
		return contentRange{}, false
	}
	startStr, endStr, ok := strings.Cut(span, "-")
	if !ok {
		return contentRange{}, false
	}
	num := func(s string) (int64, bool) {
		s = strings.TrimSpace(s)
		if s == "" || s[0] == '+' || s[0] == '-' {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	cr := contentRange{total: -1}
	if cr.start, ok = num(startStr); !ok {
		return contentRange{}, false
	}
	if cr.end, ok = num(endStr); !ok || cr.end < cr.start {
		return contentRange{}, false
	}
	if t := strings.TrimSpace(totalStr); t != "*" {
		if cr.total, ok = num(t); !ok || cr.end >= cr.total {
			return contentRange{}, false
		}
	}
	return cr, true
}

// watchedReader re-arms the stall timer every time bytes arrive.
type watchedReader struct {
	r     io.Reader
	timer *time.Timer
	stall time.Duration
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.timer.Reset(w.stall)
	}
	return n, err
}

// verifyBlob checks a finished download against the size the HEAD announced
// and, for LFS files (whose etag is the content's sha256), the digest.
func verifyBlob(path string, m fileMeta) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if m.size >= 0 && st.Size() != m.size {
		return &blobVerifyError{fmt.Sprintf("got %d bytes, expected %d", st.Size(), m.size)}
	}
	if !m.linked || len(m.etag) != 64 {
		return nil
	}
	if _, err := hex.DecodeString(m.etag); err != nil {
		return nil // not a sha256: nothing to compare against
	}
	f, err := openRegular(path)
	if err != nil {
		return err
	}
	defer f.Close()
	d := sha256.New()
	if _, err := io.Copy(d, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(d.Sum(nil)); got != strings.ToLower(m.etag) {
		return &blobVerifyError{fmt.Sprintf("sha256 %s does not match the etag %s", got, m.etag)}
	}
	return nil
}

// isRegularFile reports whether path names an existing regular file.
func isRegularFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
