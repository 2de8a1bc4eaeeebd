package remote

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// target is one endpoint as its URL names it.
type target struct {
	raw     string // as given, for messages
	grpc    bool
	tls     bool
	host    string // host:port
	prefix  string // REST path before /v2 ("" at the root)
	model   string // "" when the URL names none
	version string
}

// parseTarget reads one --server URL:
//
//	http://HOST:PORT[/PREFIX][/v2/models/NAME[/versions/V][/infer]]   REST (https: over TLS)
//	grpc://HOST:PORT[/v2/models/NAME[/versions/V]]                    gRPC (grpcs: over TLS)
//
// A URL without a scheme is REST over http.
func parseTarget(raw string) (target, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return target{}, errors.New("empty server URL")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return target{}, fmt.Errorf("server %q: %w", raw, err)
	}
	t := target{raw: raw, host: u.Host}
	switch u.Scheme {
	case "http":
	case "https":
		t.tls = true
	case "grpc":
		t.grpc = true
	case "grpcs":
		t.grpc, t.tls = true, true
	default:
		return target{}, fmt.Errorf("server %q: scheme %q: want http, https, grpc or grpcs", raw, u.Scheme)
	}
	if u.Host == "" || u.Port() == "" && t.grpc {
		return target{}, fmt.Errorf("server %q: no host:port", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return target{}, fmt.Errorf("server %q: a URL with a query, fragment or user name is not an endpoint", raw)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if i := strings.Index(p+"/", "/v2/models/"); i >= 0 {
		t.prefix = p[:i]
		rest := strings.Split(strings.TrimSuffix(p[i+len("/v2/models/"):], "/infer"), "/")
		t.model = rest[0]
		switch {
		case len(rest) == 3 && rest[1] == "versions" && rest[2] != "":
			t.version = rest[2]
		case len(rest) != 1 || t.model == "":
			return target{}, fmt.Errorf("server %q: path %q: want /v2/models/NAME[/versions/V]", raw, u.Path)
		}
	} else {
		t.prefix = strings.TrimSuffix(p, "/v2")
	}
	if t.grpc && t.prefix != "" {
		return target{}, fmt.Errorf("server %q: a gRPC endpoint has no path prefix", raw)
	}
	return t, nil
}

// endpoint is one server and its state: up (taking requests), down
// (probed again after a backoff) or disabled (it serves another model).
type endpoint struct {
	t     target
	model string // the model name used with it
	proto protocol

	mu       sync.Mutex
	up       bool
	disabled error         // why it is not used any more
	probing  bool          // a worker is probing it
	backoff  time.Duration // before the next probe
	changed  chan struct{} // closed when up, probing or disabled changes
	lastErr  error         // the failure that took it down
}

func (ep *endpoint) name() string { return ep.t.raw }

// notify wakes the workers waiting for a change; ep.mu is held.
func (ep *endpoint) notify() {
	close(ep.changed)
	ep.changed = make(chan struct{})
}

// markDown records that a request failed for want of the endpoint (a
// connection error, 503, UNAVAILABLE); it reports whether the endpoint
// was up until now.
func (ep *endpoint) markDown(err error) bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	was := ep.up
	ep.up, ep.lastErr = false, err
	if was {
		ep.notify()
	}
	return was
}

// state reports whether the endpoint is up, and why it is disabled.
func (ep *endpoint) state() (up bool, disabled error) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.up, ep.disabled
}

// waitUp returns once the endpoint takes requests: at once when it is up;
// otherwise one of the waiting workers probes it (after the backoff) while
// the others wait. It returns an error when ctx ends or the endpoint is
// disabled.
func (ep *endpoint) waitUp(ctx context.Context, c *Client) error {
	for {
		ep.mu.Lock()
		if ep.disabled != nil {
			ep.mu.Unlock()
			return ep.disabled
		}
		if ep.up {
			ep.mu.Unlock()
			return nil
		}
		if ep.probing {
			ch := ep.changed
			ep.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		ep.probing = true
		delay := ep.backoff
		ep.mu.Unlock()

		err := sleep(ctx, delay)
		var sig *Signature
		if err == nil {
			sig, err = probe(ctx, ep, c.opts.Timeout)
		}
		ep.mu.Lock()
		ep.probing = false
		switch {
		case ctx.Err() != nil:
		case err == nil && !sig.same(c.sig):
			ep.disabled = fmt.Errorf("server %s now serves another model (%s, not %s); not used any more", ep.name(), sig, c.sig)
			c.logf("%v", ep.disabled)
		case err == nil:
			ep.up, ep.backoff = true, 0
			c.logf("server %s: back, taking requests again", ep.name())
		default:
			ep.lastErr = err
			ep.backoff = min(max(2*ep.backoff, c.opts.Backoff), c.opts.MaxBackoff)
		}
		ep.notify()
		ep.mu.Unlock()
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// probe reads the endpoint's model metadata and readiness: the model's
// signature when it is ready to take requests.
func probe(ctx context.Context, ep *endpoint, timeout time.Duration) (*Signature, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	md, err := ep.proto.metadata(ctx)
	if err != nil {
		return nil, err
	}
	sig, err := signatureOf(md)
	if err != nil {
		return nil, &failure{kind: failFatal, err: fmt.Errorf("server %s: %w", ep.name(), err)}
	}
	if err := ep.proto.ready(ctx); err != nil {
		return nil, err
	}
	return sig, nil
}
