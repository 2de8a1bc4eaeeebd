package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"iter"
	"os"
	"strings"
)

// resumeState is what --resume found in the output file: the inputs it
// holds a row for (a result or an error: both are done), kept as 128-bit
// hashes of their names so that millions of them cost 16 bytes each (plus
// the map's overhead), not their paths. Two names colliding is a chance
// of about n²/2¹²⁹: none in practice.
type resumeState struct {
	path   string
	seeds  [2]maphash.Seed
	names  map[[2]uint64]struct{}
	header []string // the CSV header found, nil when none or JSON
}

func (rs *resumeState) key(name string) [2]uint64 {
	return [2]uint64{maphash.String(rs.seeds[0], name), maphash.String(rs.seeds[1], name)}
}

// done reports whether the file holds a row for the input name.
func (rs *resumeState) done(name string) bool {
	_, ok := rs.names[rs.key(name)]
	return ok
}

// maxResumeLine bounds a JSON line of the output file (an embedding of a
// large model is about 30 kB).
const maxResumeLine = 16 << 20

// openResume opens --output for --resume: the rows it holds are read
// (JSON lines or CSV as classify and embed write them), a last row cut
// short by an interrupted run is removed, and the file is appended to as
// results come, each row written whole, so that a run that is stopped
// (or killed) keeps what it did. A file that does not exist is created.
func openResume(e *env, path, format string) (*outputFile, *resumeState, error) {
	name := displayName(path)
	rs := &resumeState{path: path, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, names: map[[2]uint64]struct{}{}}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, nil, fmt.Errorf("--output %s: %w", name, bareErr(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		if err == nil {
			err = errors.New("not a regular file: --resume appends to a results file")
		}
		return nil, nil, fmt.Errorf("--output %s: %w", name, bareErr(err))
	}
	var keep int64
	if format == "csv" {
		keep, err = rs.readCSV(f)
	} else {
		keep, err = rs.readJSON(f)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--resume: %s: %w", name, err)
	}
	if err := f.Truncate(keep); err != nil {
		return nil, nil, fmt.Errorf("--output %s: %w", name, bareErr(err))
	}
	out, err := outputTarget{direct: true}.open(e, path)
	if err != nil {
		return nil, nil, err
	}
	return out, rs, nil
}

// readJSON reads JSON lines with a "path" and returns the length of the
// complete ones.
func (rs *resumeState) readJSON(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	for n := 1; ; n++ {
		line, err := readLine(br, maxResumeLine)
		if errors.Is(err, io.EOF) {
			return off, nil // a last line without its newline was cut short
		}
		if err != nil {
			return 0, fmt.Errorf("line %d: %w", n, err)
		}
		var row struct {
			Path *string `json:"path"`
		}
		if err := json.Unmarshal(line, &row); err != nil || row.Path == nil {
			return 0, fmt.Errorf("line %d is not a JSON object with a \"path\", as vkdeit writes: not a results file, or of another --format", n)
		}
		rs.names[rs.key(*row.Path)] = struct{}{}
		off += int64(len(line))
	}
}

// readLine reads one line with its newline; at the end of the input the
// rest without a newline comes with io.EOF.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		switch {
		case len(line) > limit:
			return nil, fmt.Errorf("longer than %d bytes", limit)
		case err == nil:
			return line, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return line, err
		}
	}
}

// readCSV reads CSV rows whose first column is the path, after a header
// "path,…,error", and returns the length of the complete rows: a last row
// that is malformed or lacks its newline was cut short.
func (rs *resumeState) readCSV(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, bareErr(err)
	}
	size, nl := st.Size(), endsWithNewline(f, st.Size())
	cr := csv.NewReader(bufio.NewReader(f))
	var off int64
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		end := cr.InputOffset()
		if end == size && (err != nil || !nl) {
			return off, nil
		}
		if err != nil {
			return 0, fmt.Errorf("row %d: %w", n, err)
		}
		if rs.header == nil {
			if len(rec) < 2 || rec[0] != "path" || rec[len(rec)-1] != "error" {
				return 0, errors.New("no CSV header path,…,error as vkdeit writes: not a results file, or of another --format")
			}
			rs.header = rec
		} else {
			rs.names[rs.key(rec[0])] = struct{}{}
		}
		off = end
	}
}

// endsWithNewline reports whether the file's last byte is '\n'.
func endsWithNewline(f *os.File, size int64) bool {
	if size == 0 {
		return false
	}
	b := make([]byte, 1)
	_, err := f.ReadAt(b, size-1)
	return err == nil && b[0] == '\n'
}

// checkColumns reports a CSV file written with another number of
// predictions per row than k.
func (rs *resumeState) checkColumns(k int) error {
	if rs == nil || rs.header == nil {
		return nil
	}
	if have := (len(rs.header) - 2) / 3; have != k {
		return fmt.Errorf("--resume: %s has %d predictions per row, this run writes %d (--top)", displayName(rs.path), have, k)
	}
	return nil
}

// readFilesFrom streams the paths of --files-from FILE ("-": standard
// input), one per line (a trailing "\r" dropped, empty lines skipped), as
// tar's --files-from reads them; a read error ends the sequence and is
// left in *errp.
func readFilesFrom(e *env, path string) (iter.Seq[string], *error) {
	errp := new(error)
	return func(yield func(string) bool) {
		var r io.Reader = e.stdin
		if path != stdinName {
			f, err := os.Open(path)
			if err != nil {
				*errp = fmt.Errorf("--files-from %s: %w", displayName(path), bareErr(err))
				return
			}
			defer f.Close()
			if st, err := f.Stat(); err == nil && st.IsDir() {
				*errp = fmt.Errorf("--files-from %s: %w", displayName(path), fs.ErrInvalid)
				return
			}
			r = f
		}
		br := bufio.NewReaderSize(r, 64<<10)
		for n := 1; ; n++ {
			line, err := readLine(br, maxPathLine)
			if err != nil && !errors.Is(err, io.EOF) {
				*errp = fmt.Errorf("--files-from %s: line %d: %w", displayName(path), n, err)
				return
			}
			p := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
			if p != "" && !yield(p) || err != nil {
				return
			}
		}
	}, errp
}

// maxPathLine bounds a --files-from line (PATH_MAX is 4096).
const maxPathLine = 64 << 10
