package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

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
	case kindTimeout:
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

// errorf returns an apiError of the given kind.
func errorf(kind errKind, format string, args ...any) *apiError {
	err := fmt.Errorf(format, args...)
	return &apiError{kind: kind, msg: err.Error(), err: errors.Unwrap(err)}
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
	return &apiError{kind: kindInternal, msg: err.Error(), err: err}
}
