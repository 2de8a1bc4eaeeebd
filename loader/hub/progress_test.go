package hub

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name        string
		total, done int64
		base        int64
		elapsed     time.Duration
		want        string
	}{
		{"start", 89_800_000, 0, 0, 0, "model.safetensors  [>                       ]   0%  0 B/89.8 MB   "},
		{"middle", 89_800_000, 40_400_000, 0, 4 * time.Second,
			"model.safetensors  [==========>             ]  45%  40.4 MB/89.8 MB  10.1 MB/s   "},
		{"resumed: rate counts new bytes only", 2_000_000, 1_500_000, 1_000_000, time.Second,
			"model.safetensors  [==================>     ]  75%  1.5 MB/2.0 MB  500.0 kB/s   "},
		{"done", 1500, 1500, 0, time.Second, "model.safetensors  [========================] 100%  1.5 kB/1.5 kB  1.5 kB/s   "},
		{"unknown size", -1, 2_500_000_000, 0, 2 * time.Second, "model.safetensors  2.50 GB  1.25 GB/s   "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &progress{name: "model.safetensors", total: tc.total, done: tc.done, base: tc.base}
			require.Equal(t, tc.want, p.line(tc.elapsed))
		})
	}
}

func TestProgressWriter(t *testing.T) {
	var nilBar *progress
	n, err := nilBar.Write([]byte("abc"))
	require.NoError(t, err)
	require.Equal(t, 3, n)
	nilBar.set(5)
	nilBar.finish()
	require.Nil(t, newProgress(nil, "x", 10))

	var out bytes.Buffer
	p := newProgress(&out, "config.json", 4000)
	p.set(1000)
	for range 3 {
		p.Write(make([]byte, 1000))
	}
	p.finish()
	s := out.String()
	require.True(t, strings.HasSuffix(s, "\n"), "the bar ends its line")
	last := s[strings.LastIndexByte(s[:len(s)-1], '\r')+1:]
	require.True(t, strings.HasPrefix(last, "config.json  [========================] 100%  4.0 kB/4.0 kB"), "%q", last)
}
