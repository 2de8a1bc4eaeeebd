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
)

// maxDownloadAttempts bounds how often one blob download is retried after a
// connection failure; each retry resumes where the last one stopped.
const maxDownloadAttempts = 5

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
	bar := newProgress(h.Progress, t.file, m.size)
	defer bar.finish()
	var lastErr error
	for attempt := range maxDownloadAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("hub: downloading %s: %w", u, context.Cause(ctx))
			case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
			}
		}
		lastErr = h.fetchInto(ctx, t, tmp, m, bar)
		if lastErr == nil || ctx.Err() != nil || !retryable(lastErr) {
			break
		}
	}
	if lastErr != nil {
		if st, err := os.Stat(tmp); err == nil && st.Size() > 0 && retryable(lastErr) && ctx.Err() == nil {
			return fmt.Errorf("%w (gave up after %d attempts; the %d bytes received are kept in %s and the next run resumes from there)",
				lastErr, maxDownloadAttempts, st.Size(), tmp)
		}
		return lastErr
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
// connection problem or a server-side (5xx) error, not a refusal.
func retryable(err error) bool {
	var he *hubError
	if errors.As(err, &he) {
		return he.status >= 500
	}
	var ve *blobVerifyError
	return !errors.As(err, &ve)
}

// blobVerifyError marks a download whose bytes are wrong, which no retry fixes.
type blobVerifyError struct{ msg string }

func (e *blobVerifyError) Error() string { return e.msg }

// fetchInto appends the missing tail of u to tmp. It asks for
// "Range: bytes=N-" when tmp already holds N bytes and starts over when the
// server answers with the whole file (200) instead of the range (206).
func (h *Client) fetchInto(ctx context.Context, t hubTarget, tmp string, m fileMeta, bar *progress) error {
	u := h.fileURL(t.repo, t.rev, t.file)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer f.Close()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("hub: %s: %w", tmp, err)
	}
	if m.size >= 0 && off > m.size { // not the file we expect: start over
		if err := truncateAt(f, 0); err != nil {
			return fmt.Errorf("hub: %s: %w", tmp, err)
		}
		off = 0
	}
	if m.size >= 0 && off == m.size {
		bar.set(off)
		return nil // complete; only the rename was missing
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
		return stallCause(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != off {
			// A range we did not ask for: drop it and fetch the whole file next time.
			truncateAt(f, 0)
			return fmt.Errorf("hub: %s: asked for bytes from %d, got Content-Range %q", final, off, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent:
		if off > 0 { // the server ignored the range: the body is the whole file
			if err := truncateAt(f, 0); err != nil {
				return fmt.Errorf("hub: %s: %w", tmp, err)
			}
			off = 0
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && off > 0:
		if m.size < 0 {
			return nil // nothing after byte off: the file is complete
		}
		truncateAt(f, 0)
		return fmt.Errorf("hub: %s: range from byte %d refused (HTTP 416); starting over", final, off)
	default:
		return h.statusError(resp, final, t.repo, t.rev, t.file)
	}
	bar.set(off)
	body := &watchedReader{r: resp.Body, timer: watchdog, stall: stall}
	_, err = io.Copy(io.MultiWriter(f, bar), body)
	if err != nil {
		return fmt.Errorf("hub: reading %s: %w", final, stallCause(ctx, err))
	}
	return f.Sync()
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

// contentRangeStart parses the first byte of "bytes START-END/TOTAL".
func contentRangeStart(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, false
	}
	startStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(startStr), 10, 64)
	return n, err == nil
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
	f, err := os.Open(path)
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
