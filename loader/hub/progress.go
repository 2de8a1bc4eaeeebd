package hub

// Progress reports a download as it runs: the file's name in the repo, the
// bytes on disk so far (a resumed download starts above 0) and its size
// (-1 when the server did not say). The package draws nothing itself.
type Progress func(file string, have, total int64)

// progress counts the bytes of one file's download into a Progress; a nil
// *progress (no callback) does nothing, so callers need no checks.
type progress struct {
	report Progress
	file   string
	total  int64
	have   int64
}

// newProgress returns a counter for file of total bytes, nil when report is nil.
func newProgress(report Progress, file string, total int64) *progress {
	if report == nil {
		return nil
	}
	return &progress{report: report, file: file, total: total}
}

// set records that n bytes are on disk (a resumed or restarted download).
func (p *progress) set(n int64) {
	if p == nil {
		return
	}
	p.have = n
	p.report(p.file, p.have, p.total)
}

// Write counts bytes as they are saved; it never fails.
func (p *progress) Write(b []byte) (int, error) {
	if p == nil {
		return len(b), nil
	}
	p.have += int64(len(b))
	p.report(p.file, p.have, p.total)
	return len(b), nil
}
