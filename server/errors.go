package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
)

// errKind classifies a failed request. Each kind has one HTTP status and
// one gRPC code, so both protocols answer the same failure the same way.
type errKind int

const (
	kindBadRequest  errKind = iota // the request is malformed or does not fit the model
	kindNotFound                   // unknown model, version or endpoint
	kindTooLarge                   // the body or the image count is over a limit
	kindQueueFull                  // the batching queue has no room: retry later
	kindUnavailable                // not ready, or shutting down
	kindTimeout                    // the request's deadline passed before it was answered
	kindCanceled                   // the client went away
	kindInternal                   // the server or the engine failed
	kindNotAllowed                 // wrong HTTP method for the endpoint
	kindSlowClient                 // the request body arrived too slowly
)

// statusClientClosed is the status recorded (never seen by anyone) for a
// client that went away before its answer: nginx's 499.
const statusClientClosed = 499

// httpStatus is the kind's HTTP status code.
func (k errKind) httpStatus() int {
	switch k {
	case kindBadRequest:
		return http.StatusBadRequest
	case kindNotFound:
		return http.StatusNotFound
	case kindTooLarge:
		return http.StatusRequestEntityTooLarge
	case kindQueueFull:
		return http.StatusTooManyRequests
	case kindUnavailable:
		return http.StatusServiceUnavailable
	case kindTimeout:
		return http.StatusGatewayTimeout
	case kindCanceled:
		return statusClientClosed
	case kindNotAllowed:
		return http.StatusMethodNotAllowed
	case kindSlowClient:
		return http.StatusRequestTimeout
	}
	return http.StatusInternalServerError
}

// grpcCode is the kind's gRPC status code.
func (k errKind) grpcCode() codes.Code {
	switch k {
	case kindBadRequest:
		return codes.InvalidArgument
	case kindNotFound:
		return codes.NotFound
	case kindTooLarge, kindQueueFull:
		return codes.ResourceExhausted
	case kindUnavailable:
		return codes.Unavailable
	case kindTimeout, kindSlowClient:
		return codes.DeadlineExceeded
	case kindCanceled:
		return codes.Canceled
	case kindNotAllowed:
		return codes.Unimplemented
	}
	return codes.Internal
}

// apiError is a request failure with the kind that decides its status. Its
// message is what the client sees.
type apiError struct {
	kind errKind
	msg  string
	err  error // the cause, for errors.Is; may be nil
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// errorf returns an apiError of the given kind. Its message is cut to
// maxErrorMessage bytes, whatever the arguments hold: client strings are
// quoted shorter still (quote), and this bounds what nothing else did (an
// echoed number of a million digits, say).
func errorf(kind errKind, format string, args ...any) *apiError {
	err := fmt.Errorf(format, args...)
	return &apiError{kind: kind, msg: capMessage(err.Error()), err: errors.Unwrap(err)}
}

// maxErrorMessage bounds the message of an error answer.
const maxErrorMessage = 1 << 10

// capMessage cuts msg to maxErrorMessage bytes (on a UTF-8 boundary),
// saying so.
func capMessage(msg string) string {
	if len(msg) <= maxErrorMessage {
		return msg
	}
	return fmt.Sprintf("%s… (%d bytes cut)", utf8Prefix(msg, maxErrorMessage-32), len(msg)-(maxErrorMessage-32))
}

// maxQuoted is how many bytes of a client's string an error quotes.
const maxQuoted = 64

// quote is a client's string for an error message: Go-quoted, and cut to
// its first maxQuoted bytes with its length when longer, so that an error
// never echoes a client's megabyte back to it.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q… (%d bytes)", utf8Prefix(s, maxQuoted), len(s))
}

// clip is quote without the quotes, for strings shown bare (URL paths).
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", utf8Prefix(s, maxQuoted), len(s))
}

// utf8Prefix is s cut to at most n bytes without splitting a character.
func utf8Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Errors of the batching queue.
var (
	errQueueFull    = errors.New("the server's queue is full; retry later")
	errShuttingDown = errors.New("the server is shutting down")
)

// toAPIError gives any error its kind: apiErrors keep theirs, queue and
// context errors get theirs, and anything else is internal.
func toAPIError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, errQueueFull):
		return &apiError{kind: kindQueueFull, msg: err.Error(), err: err}
	case errors.Is(err, errShuttingDown):
		return &apiError{kind: kindUnavailable, msg: err.Error(), err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{kind: kindTimeout, msg: "the request's deadline passed before it was answered", err: err}
	case errors.Is(err, context.Canceled):
		return &apiError{kind: kindCanceled, msg: "the request was canceled", err: err}
	}
	return &apiError{kind: kindInternal, msg: capMessage(err.Error()), err: err}
}
