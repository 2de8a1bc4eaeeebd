// Package remote classifies images on inference servers instead of a local
// engine: any endpoint of the Open Inference Protocol (KServe v2) over
// REST or gRPC — `vkdeit serve`, Triton, a KServe InferenceService — or
// several of them at once. It learns the model's tensors from the
// servers' metadata, sends each image as its own request (encoded, or
// preprocessed here when the server takes pixels) with a bounded number
// in flight per endpoint, retries with backoff, moves requests off
// endpoints that fail, and returns the same classify.Result values, in
// input order, as classify.Classifier does, so that callers treat a local
// and a remote run alike.
//
// # What is sent
//
// The input is picked from the model's metadata (Signature): vkdeit's
// BYTES input "image" takes the image files as they are (the server
// decodes and preprocesses them exactly as `vkdeit classify` does);
// otherwise an FP32 input [B, 3, H, H] takes pixels, preprocessed here
// with Options.Preprocessor, which must be the model's (its
// preprocessor_config.json). Options.Input forces one kind.
//
// # Failures
//
// A server's refusal of one image (400, INVALID_ARGUMENT: not an image)
// is that image's Result.Err, as a local decode error is. A busy server
// (429, RESOURCE_EXHAUSTED, 500, a timeout) gets the request again after
// a backoff; an endpoint that cannot be reached (connection errors, 502,
// 503, 504, UNAVAILABLE) is marked down, its requests go to the others,
// and it is probed (metadata and readiness) with a growing backoff until
// it answers. Every result is delivered exactly once: a request retried
// elsewhere is only counted once, whichever answer came. A request that
// fails Options.Attempts times, or no endpoint taking requests for
// Options.GiveUp, ends Stream with an error: the results delivered so far
// stand, so that a caller that saves them can resume.
package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// Options configure a Client. The zero value of every field means its
// default.
type Options struct {
	// Model is the model's name on servers whose URL does not name one
	// (.../v2/models/NAME); required then.
	Model string
	// InFlight is the most requests outstanding per endpoint (default 8):
	// what a KServe concurrency target should match.
	InFlight int
	// Input forces the input kind: InputImage or InputPixels (default
	// InputAuto: encoded images when the server takes them).
	Input string
	// Labels name the classes in rankings (missing ones are "LABEL_i");
	// when set, their count must match the server's logits. Nil means the
	// ImageNet-1k names when the logits have 1000 columns (as for
	// checkpoints without config.json), else "LABEL_i".
	Labels []string
	// Preprocessor turns images into pixels for servers that take FP32
	// pixels (default imageio.DefaultPreprocessor()); its output size must
	// be the server's input size.
	Preprocessor *imageio.Preprocessor
	// Timeout bounds each attempt of a request, and each probe (default
	// 2 minutes).
	Timeout time.Duration
	// Attempts is how often one image is tried before Stream gives up
	// (default 10).
	Attempts int
	// Backoff is the first retry delay, doubling up to MaxBackoff (default
	// 100 ms and 10 s); endpoints that are down are probed on the same
	// schedule.
	Backoff, MaxBackoff time.Duration
	// GiveUp ends Stream when no endpoint has taken requests for this long
	// (default 2 minutes).
	GiveUp time.Duration
	// Logf receives notes: an endpoint going down or coming back. Nil
	// discards them.
	Logf func(format string, args ...any)
	// HTTPClient sends REST requests (default: a client whose transport
	// keeps InFlight connections per endpoint).
	HTTPClient *http.Client
}

func (o *Options) defaults() {
	if o.InFlight <= 0 {
		o.InFlight = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Attempts <= 0 {
		o.Attempts = 10
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.Backoff)
	if o.GiveUp <= 0 {
		o.GiveUp = 2 * time.Minute
	}
	if o.Preprocessor == nil {
		o.Preprocessor = imageio.DefaultPreprocessor()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: o.InFlight, IdleConnTimeout: 90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true,
		}}
	}
}

// Client sends images to a set of endpoints serving one model.
type Client struct {
	opts Options
	eps  []*endpoint
	sig  *Signature
}

// New connects to the endpoints (URLs as parseTarget reads them) and
// reads the model's metadata from each, concurrently: the endpoints must
// serve the same model (the same signature); those that cannot be
// reached now are noted and probed again once Stream runs. It fails when
// none answers, when a URL is malformed, or when the metadata offers
// nothing this client can send or read.
func New(ctx context.Context, urls []string, opts Options) (*Client, error) {
	opts.defaults()
	if len(urls) == 0 {
		return nil, errors.New("remote: no server URLs")
	}
	switch opts.Input {
	case InputAuto, InputImage, InputPixels:
	default:
		return nil, fmt.Errorf("remote: input kind %q: want %q or %q", opts.Input, InputImage, InputPixels)
	}
	c := &Client{opts: opts}
	seen := map[string]bool{}
	for _, u := range urls {
		t, err := parseTarget(u)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("remote: %w", err)
		}
		if seen[t.raw] {
			c.Close()
			return nil, fmt.Errorf("remote: server %s given twice", t.raw)
		}
		seen[t.raw] = true
		model := t.model
		if model == "" {
			model = opts.Model
		}
		if model == "" {
			c.Close()
			return nil, fmt.Errorf("remote: server %s: name the model: %s/v2/models/NAME", t.raw, strings.TrimSuffix(t.raw, "/"))
		}
		ep := &endpoint{t: t, model: model, changed: make(chan struct{})}
		if t.grpc {
			if ep.proto, err = newGRPC(t, model, t.version); err != nil {
				c.Close()
				return nil, fmt.Errorf("remote: %w", err)
			}
		} else {
			ep.proto = newREST(t, model, t.version, opts.HTTPClient)
		}
		c.eps = append(c.eps, ep)
	}
	if err := c.connect(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// connect reads every endpoint's metadata and settles the signature.
func (c *Client) connect(ctx context.Context) error {
	type answer struct {
		sig   *Signature
		err   error
		ready error
	}
	answers := make([]answer, len(c.eps))
	var wg sync.WaitGroup
	for i, ep := range c.eps {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
			defer cancel()
			md, err := ep.proto.metadata(actx)
			if err != nil {
				answers[i].err = err
				return
			}
			if answers[i].sig, err = signatureFor(md, c.opts.Input); err != nil {
				answers[i].err = &failure{kind: failFatal, err: err}
				return
			}
			answers[i].ready = ep.proto.ready(actx)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	var errs []string
	for i, a := range answers {
		ep := c.eps[i]
		switch {
		case a.err != nil && kindOf(a.err) == failFatal:
			return fmt.Errorf("remote: server %s: %w", ep.name(), a.err)
		case a.err != nil:
			errs = append(errs, fmt.Sprintf("%s: %v", ep.name(), a.err))
			ep.lastErr = a.err
			c.logf("server %s: %v; trying the other servers, and this one again later", ep.name(), a.err)
		case c.sig == nil:
			c.sig = a.sig
		case !a.sig.same(c.sig):
			return fmt.Errorf("remote: the servers serve different models: %s has %s, %s has %s",
				c.eps[0].name(), c.sig, ep.name(), a.sig)
		}
		ep.up = a.err == nil && a.ready == nil
		if a.err == nil && a.ready != nil {
			ep.lastErr = a.ready
			c.logf("server %s: not ready (%v); waiting for it", ep.name(), a.ready)
		}
	}
	if c.sig == nil {
		return fmt.Errorf("remote: no server answered: %s", strings.Join(errs, "; "))
	}
	if c.opts.Labels == nil && c.sig.NumLabels == 1000 {
		c.opts.Labels = deit.ImageNetLabels()
	}
	if n := len(c.opts.Labels); n > 0 && c.sig.Logits != "" && c.sig.NumLabels > 0 && n != c.sig.NumLabels {
		return fmt.Errorf("remote: the model's labels name %d classes, but the servers' %s has %d", n, c.sig.Logits, c.sig.NumLabels)
	}
	if !c.sig.Encoded {
		if h, w := c.opts.Preprocessor.OutputSize(c.sig.Size, c.sig.Size); h != c.sig.Size || w != c.sig.Size {
			return fmt.Errorf("remote: the servers take %d×%d pixels, but the preprocessing makes %d×%d: give the served model's preprocessor_config.json",
				c.sig.Size, c.sig.Size, h, w)
		}
	}
	return nil
}

// Signature is what the client learned of the served model.
func (c *Client) Signature() Signature { return *c.sig }

// Close closes the connections.
func (c *Client) Close() error {
	for _, ep := range c.eps {
		ep.proto.close()
	}
	return nil
}

func (c *Client) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}
