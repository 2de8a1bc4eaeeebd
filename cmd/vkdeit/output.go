package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// checkedWriter remembers the first write error, so that output lost to a
// full disk or a closed pipe turns into a failure even where the command
// did not check (fmt.Fprintf's error is easy to drop).
type checkedWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// Write implements io.Writer; after a failure it writes nothing more.
func (c *checkedWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.err = fmt.Errorf("writing output: %w", err)
	}
	return n, c.err
}

// Err is the first write error, or nil.
func (c *checkedWriter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// outputFile is where a command's results go: stdout, or with --output a
// file written atomically, so that a reader never sees half a file and an
// interrupted or failed run leaves none behind (nor replaces an older one).
type outputFile struct {
	io.Writer
	f      *os.File // the temporary file; nil for stdout
	path   string
	remove func()
}

// openOutput returns stdout when path is "" or "-", else a temporary file
// in path's directory that Commit renames to path.
func openOutput(e *env, path string) (*outputFile, error) {
	if path == "" || path == "-" {
		return &outputFile{Writer: e.stdout}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("--output: %w", err)
	}
	o := &outputFile{Writer: &checkedWriter{w: f}, f: f, path: path}
	o.remove = e.atExit(func() { f.Close(); os.Remove(f.Name()) })
	return o, nil
}

// Seeker is the temporary file, for writers that rewrite a header at the
// end (npy); nil for stdout.
func (o *outputFile) Seeker() io.WriteSeeker {
	if o.f == nil {
		return nil
	}
	return o.f
}

// Commit makes the file visible under its name (a no-op for stdout).
func (o *outputFile) Commit() error {
	if o.f == nil {
		return nil
	}
	err := o.Writer.(*checkedWriter).Err()
	if cerr := o.f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.f.Name(), o.path)
	}
	if err != nil {
		os.Remove(o.f.Name())
		o.remove()
		o.f = nil
		return fmt.Errorf("%s: %w", o.path, err)
	}
	o.remove()
	o.f = nil
	return nil
}

// Discard removes the temporary file (after an error); Commit or Discard,
// whichever comes first, wins.
func (o *outputFile) Discard() {
	if o.f == nil {
		return
	}
	o.f.Close()
	os.Remove(o.f.Name())
	o.remove()
	o.f = nil
}
