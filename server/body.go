package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// memBudget bounds the bytes that requests hold at once: REST bodies as
// they arrive, gRPC messages once received, and the tensors decoded from
// either. It never waits: a request that does not fit is refused (429 /
// RESOURCE_EXHAUSTED), so that no client can hold memory another needs
// while it waits for more.
type memBudget struct {
	limit int64
	used  atomic.Int64
}

// take reserves n bytes, or reports that they do not fit.
func (m *memBudget) take(n int64) bool {
	for {
		u := m.used.Load()
		if u+n > m.limit {
			return false
		}
		if m.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// give returns n bytes taken before.
func (m *memBudget) give(n int64) { m.used.Add(-n) }

// inflightFactor sizes the request memory budget: Options.MaxRequestBytes
// times this many. With the default 32 MiB requests that is 256 MiB, room
// for about a hundred single-image requests at once (a JSON image of
// 224×224 pixels is about 2 MiB of body and pixels), far more than
// batching needs.
const inflightFactor = 8

// claim is one request's share of the memory budget, given back whole by
// release.
type claim struct {
	m     *memBudget
	bytes int64
}

// grow reserves n more bytes for the request, or returns a 429 error.
func (c *claim) grow(n int64) error {
	if n <= 0 {
		return nil
	}
	if !c.m.take(n) {
		return errorf(kindQueueFull, "the server holds %d bytes of requests, its limit; retry later", c.m.limit)
	}
	c.bytes += n
	return nil
}

// release gives back everything the request reserved.
func (c *claim) release() {
	c.m.give(c.bytes)
	c.bytes = 0
}

// bodyPace is how fast a request body must arrive: after grace, at least
// minRate bytes per second on average since its first byte was awaited.
// A client slower than that is answered 408 and its connection closed, so
// that trickling bodies hold neither memory nor connections for long.
type bodyPace struct {
	grace   time.Duration
	minRate int64 // bytes per second
}

// defaultPace lets a client take 5 s for any body, and then asks for
// 64 KiB/s (half a megabit): a phone on a poor link still sends a photo,
// while a client trickling a byte a second is cut off after 5 s.
var defaultPace = bodyPace{grace: 5 * time.Second, minRate: 64 << 10}

// deadline is when byte got+1 must have arrived for a body whose reading
// began at start.
func (p bodyPace) deadline(start time.Time, got int) time.Time {
	return start.Add(p.grace + time.Duration(float64(got+1)/float64(p.minRate)*float64(time.Second)))
}

// firstBodyChunk is the first buffer a body of unknown or large length
// gets; it doubles as bytes arrive, so that a body's memory follows what
// the client has sent, not what it announced.
const firstBodyChunk = 16 << 10

// readBody reads the request body whole, before the request takes an
// inference slot: up to Options.MaxRequestBytes (413 above), within the
// request memory budget (429 when the server holds too much already), at
// bodyPace (408 when slower), and cut off (503) when a drain runs out of
// time. The buffer grows as bytes arrive and is charged to the claim the
// caller releases once it is done with the body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, c *claim) ([]byte, error) {
	limit := s.opts.MaxRequestBytes
	if r.ContentLength > limit {
		return nil, errorf(kindTooLarge, "request body of %d bytes is over the server's limit of %d", r.ContentLength, limit)
	}
	// The buffer never needs more than the announced length, or one byte
	// over the limit to notice a longer body without one.
	most := limit + 1
	if r.ContentLength >= 0 {
		most = r.ContentLength
	}
	rd := newPacedReader(w, r.Body, s.pace, s.opts.ReadTimeout, s.drainCut)
	defer rd.stop()
	var buf []byte
	for int64(len(buf)) < most {
		if len(buf) == cap(buf) {
			n := min(max(2*int64(cap(buf)), firstBodyChunk), most)
			if err := c.grow(n - int64(cap(buf))); err != nil {
				return nil, err
			}
			nb := make([]byte, len(buf), n)
			copy(nb, buf)
			buf = nb
		}
		k, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, s.bodyError(rd.why(err))
		}
	}
	if int64(len(buf)) > limit {
		return nil, errorf(kindTooLarge, "request body is over the server's limit of %d bytes", limit)
	}
	if r.ContentLength > 0 && int64(len(buf)) < r.ContentLength {
		return nil, errorf(kindBadRequest, "reading the request body: %d of its %d bytes arrived", len(buf), r.ContentLength)
	}
	return buf, nil
}

// Why a paced read ended early.
var (
	errBodyTooSlow = errors.New("body too slow")
	errBodyCut     = errors.New("body cut by shutdown")
)

// pacedReader reads a body under read deadlines that enforce a bodyPace
// and the overall read timeout, and that a drain running out of time
// moves to now.
type pacedReader struct {
	body    io.Reader
	rc      *http.ResponseController
	pace    bodyPace
	start   time.Time
	end     time.Time // the overall read timeout
	got     int
	paced   bool // the connection takes deadlines
	mu      sync.Mutex
	cut     bool
	stopCut func() bool
}

func newPacedReader(w http.ResponseWriter, body io.Reader, pace bodyPace, timeout time.Duration, drainCut context.Context) *pacedReader {
	now := time.Now()
	p := &pacedReader{body: body, rc: http.NewResponseController(w), pace: pace, start: now, end: now.Add(timeout)}
	p.paced = p.rc.SetReadDeadline(p.next()) == nil
	if p.paced {
		p.stopCut = context.AfterFunc(drainCut, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.cut = true
			p.rc.SetReadDeadline(time.Now())
		})
	}
	return p
}

// next is the deadline of the next byte.
func (p *pacedReader) next() time.Time {
	d := p.pace.deadline(p.start, p.got)
	if d.After(p.end) {
		return p.end
	}
	return d
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.paced {
		p.mu.Lock()
		if !p.cut {
			p.rc.SetReadDeadline(p.next())
		}
		p.mu.Unlock()
	}
	n, err := p.body.Read(b)
	p.got += n
	return n, err
}

// why turns a deadline error into the reason it was set.
func (p *pacedReader) why(err error) error {
	if !p.paced || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return errBodyCut
	}
	return errBodyTooSlow
}

// stop ends the pacing once the body is read: the connection gets no
// read deadline until the server reads its next request (which sets its
// own), so that the request's context is not canceled by a stale one.
func (p *pacedReader) stop() {
	if !p.paced {
		return
	}
	p.stopCut()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut {
		p.rc.SetReadDeadline(time.Time{})
	}
}

// bodyError classifies a failure while reading a body.
func (s *Server) bodyError(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errorf(kindTooLarge, "request body is over the server's limit of %d bytes", s.opts.MaxRequestBytes)
	case errors.Is(err, errBodyTooSlow):
		return errorf(kindSlowClient, "the request body arrived slower than %d bytes/s after its first %v (or took over %v); send it faster",
			s.pace.minRate, s.pace.grace, s.opts.ReadTimeout)
	case errors.Is(err, errBodyCut):
		return errShuttingDown
	}
	return errorf(kindBadRequest, "reading the request body: %v", err)
}
