package hub

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// repoCache is one repo's folder in the huggingface_hub cache,
// <cache>/models--org--name.
type repoCache struct {
	root string // <cache>/models--org--name
	lock string // <cache>/.locks/models--org--name
}

// newRepoCache names the cache folders of repo inside cacheDir.
func newRepoCache(cacheDir, repo string) repoCache {
	folder := "models--" + strings.ReplaceAll(repo, "/", "--")
	return repoCache{
		root: filepath.Join(cacheDir, folder),
		lock: filepath.Join(cacheDir, ".locks", folder),
	}
}

// refPath is the file holding the commit a branch or tag resolved to.
func (c repoCache) refPath(rev string) string {
	return filepath.Join(c.root, "refs", filepath.FromSlash(rev))
}

// maxRefBytes bounds what is read of a ref file, which holds a 40-hex
// commit hash (and perhaps a newline).
const maxRefBytes = 256

// readRef returns the commit recorded for rev, "" when none is. The ref
// must be a regular file holding a commit hash; anything else is an error
// that shows at most a short, escaped prefix of what the file holds.
func (c repoCache) readRef(rev string) (string, error) {
	path := c.refPath(rev)
	f, err := openRegular(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRefBytes+1))
	if err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	commit := strings.TrimSpace(string(b))
	if len(b) > maxRefBytes || !isCommitHash(commit) {
		head := commit[:min(len(commit), 40)]
		return "", fmt.Errorf("hub: %s: not a commit hash (starts with %s); remove it to look the revision up again", path, quoteShort(head))
	}
	return commit, nil
}

// writeRef records that rev points at commit (huggingface_hub writes the bare hash).
func (c repoCache) writeRef(rev, commit string) error {
	if rev == commit {
		return nil
	}
	if old, err := c.readRef(rev); err == nil && old == commit {
		return nil
	}
	return writeFileAtomic(c.refPath(rev), []byte(commit))
}

// snapshotDir is the directory of the files of one commit.
func (c repoCache) snapshotDir(commit string) string {
	return filepath.Join(c.root, "snapshots", commit)
}

// snapshotFile returns the path of file in the snapshot of commit and
// whether it is there. A dangling symlink (its blob was deleted) counts as
// absent, so the file is fetched again; an entry that is there but is not a
// regular file (a directory, a FIFO) is an error, since using the defaults
// in its place would silently run another model.
func (c repoCache) snapshotFile(commit, file string) (string, bool, error) {
	p := filepath.Join(c.snapshotDir(commit), filepath.FromSlash(file))
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return p, false, nil
	case err != nil:
		return p, false, fmt.Errorf("hub: %w", err)
	case !st.Mode().IsRegular():
		return p, false, fmt.Errorf("hub: cache entry %s is %s, not a regular file; remove it to download the file again", p, describeMode(st.Mode()))
	}
	return p, true, nil
}

// noExistPath is huggingface_hub's marker that file is absent at commit.
func (c repoCache) noExistPath(commit, file string) string {
	return filepath.Join(c.root, ".no_exist", commit, filepath.FromSlash(file))
}

// knownMissing reports whether a previous lookup found file absent at commit.
func (c repoCache) knownMissing(commit, file string) bool {
	_, err := os.Stat(c.noExistPath(commit, file))
	return err == nil
}

// markMissing records that file is absent at commit, so later (offline) runs
// need not ask again.
func (c repoCache) markMissing(commit, file string) error {
	p := c.noExistPath(commit, file)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|regfile.NonBlock, 0o644)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return f.Close()
}

// blobPath is where the contents with the given etag are stored.
func (c repoCache) blobPath(etag string) string {
	return filepath.Join(c.root, "blobs", etag)
}

// linkSnapshot makes snapshots/<commit>/<file> a relative symlink to the blob,
// as huggingface_hub does, and returns its path. Where symlinks are not
// allowed (Windows without developer mode) the blob is hard-linked or copied.
func (c repoCache) linkSnapshot(commit, file, etag string) (string, error) {
	blob := c.blobPath(etag)
	p := filepath.Join(c.snapshotDir(commit), filepath.FromSlash(file))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	rel, err := filepath.Rel(filepath.Dir(p), blob)
	if err != nil {
		return "", fmt.Errorf("hub: %s: %w", p, err)
	}
	if _, ok, _ := c.snapshotFile(commit, file); ok {
		return p, nil // a concurrent download linked it already
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) { // a dangling link
		return "", fmt.Errorf("hub: %w", err)
	}
	if err := os.Symlink(rel, p); err == nil || isRegularFile(p) {
		return p, nil // made it, or a concurrent download did
	}
	if err := os.Link(blob, p); err == nil {
		return p, nil
	}
	if err := copyBlobFile(p, blob); err != nil {
		return "", fmt.Errorf("hub: %s: %w", p, err)
	}
	return p, nil
}

// copyBlobFile copies src to dst through a temporary file.
func copyBlobFile(dst, src string) error {
	in, err := openRegular(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".incomplete"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// writeFileAtomic writes data to path through a temporary file and a rename,
// so readers never see a partial file.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("hub: %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("hub: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}
