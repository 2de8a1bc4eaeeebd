package server

import (
	"io"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func TestAddFlags(t *testing.T) {
	var o Options
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	require.Equal(t, ":8080", fs.Lookup("http").DefValue)
	require.Equal(t, ":8081", fs.Lookup("grpc").DefValue)
	require.Equal(t, "8", fs.Lookup("max-batch").DefValue)
	// The ServingRuntime's arguments, then an InferenceService's appended ones.
	require.NoError(t, fs.Parse([]string{"--name=deit-small", "--http=:8080", "--grpc=off",
		"--max-batch=32", "--max-delay=2ms", "--max-queue=512", "--timeout=5s", "--workers=3",
		"--max-request-bytes=1048576", "--drain-timeout=10s", "--max-batch=16"}))
	require.Equal(t, Options{Name: "deit-small", HTTPAddr: ":8080", GRPCAddr: Off, MaxBatch: 16, MaxDelay: 2 * time.Millisecond,
		MaxQueue: 512, Timeout: 5 * time.Second, Workers: 3, MaxRequestBytes: 1 << 20, DrainTimeout: 10 * time.Second}, o)
	require.Nil(t, fs.Lookup("no-exif"), "decoding flags are the caller's")
}
