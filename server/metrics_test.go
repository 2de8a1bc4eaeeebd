package server

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/deit"
)

// scrape returns the server's /metrics text.
func scrape(t testing.TB, ts *testServer) string {
	t.Helper()
	status, _, body := httpDo(t, "GET", ts.url+"/metrics", nil, nil)
	require.Equal(t, 200, status)
	return string(body)
}

// counterValue is the value of one sample line of /metrics ("name{labels}"
// exactly as exposed, labels sorted), or -1 when absent.
func counterValue(t testing.TB, ts *testServer, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape(t, ts), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, line)
			return f
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	m := tinyModel(t)
	eng := &testEngine{Engine: refEngine(t, m, 4)}
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	px := deit.RandomPixels(m.Config, 6, 121)
	require.Equal(t, 200, restJSONClient(t.Context(), ts, px, 6).status) // 2 batches: 4 + 2
	require.Equal(t, 200, grpcClient(t.Context(), ts, px[:3072], 1).status)
	status, _, _ := postJSON(t, ts.url+"/v2/models/tiny/infer", map[string]any{"inputs": []any{}})
	require.Equal(t, 400, status)
	status, _, _ = httpDo(t, "GET", ts.url+"/v2/health/ready", nil, nil) // probes are not inference requests
	require.Equal(t, 200, status)

	for series, want := range map[string]float64{
		`vkdeit_inference_requests_total{code="200",model="tiny",protocol="rest"}`: 1,
		`vkdeit_inference_requests_total{code="400",model="tiny",protocol="rest"}`: 1,
		`vkdeit_inference_requests_total{code="OK",model="tiny",protocol="grpc"}`:  1,
		`vkdeit_inference_images_total{model="tiny"}`:                              7,
		`vkdeit_inference_batches_total{model="tiny"}`:                             3,
		`vkdeit_inference_queue_depth{model="tiny"}`:                               0,
		`vkdeit_inference_queue_seconds_count{model="tiny"}`:                       2,
		`vkdeit_inference_compute_seconds_count{model="tiny"}`:                     3,
		`vkdeit_inference_batch_size_sum{model="tiny"}`:                            7,
		`vkdeit_inference_request_seconds_count{model="tiny",protocol="rest"}`:     2,
		`vkdeit_inference_preprocess_seconds_count{model="tiny"}`:                  0,
	} {
		require.Equal(t, want, counterValue(t, ts, series), series)
	}
	text := scrape(t, ts)
	require.Contains(t, text, "# TYPE vkdeit_inference_compute_seconds histogram")
	require.Contains(t, text, "go_goroutines ")
	require.Equal(t, len(eng.calls()), 3)
}
