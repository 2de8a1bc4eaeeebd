package hub

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIsRepoID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{DefaultModel, true},
		{"facebook/deit-tiny-patch16-224@main", true},
		{"timm/deit_small_distilled_patch16_224.fb_in1k", true},
		{"org/name@0123456789abcdef0123456789abcdef01234567", true},
		{"org/name@refs/pr/1", true},
		{"org/name@v1.0", true},
		{"./x/y", false},
		{"../x", false},
		{"x/../y", false},
		{"/abs/path", false},
		{"/abs", false},
		{"org/name/extra", false},
		{"model.safetensors", false},
		{"gpt2", false},
		{"org/", false},
		{"/name", false},
		{"org/-name", false},
		{"org/name.", false},
		{"org--x/name", false},
		{"org/na me", false},
		{`org\name`, false},
		{"~/models/x", false},
		{"org/name@", false},
		{"org/name@../../etc", false},
		{"org/name@/abs", false},
		{"org/name@a b", false},
		{"", false},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, IsRepoID(tc.in), "IsRepoID(%q)", tc.in)
	}
}

func TestHubFromEnv(t *testing.T) {
	home := t.TempDir()
	tokenHome := filepath.Join(home, "hfhome")
	require.NoError(t, os.MkdirAll(tokenHome, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tokenHome, "token"), []byte("hf_saved\n"), 0o600))
	tests := []struct {
		name string
		env  map[string]string
		want Client
	}{
		{"defaults", nil, Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(home, ".cache", "huggingface", "hub")}},
		{"XDG_CACHE_HOME", map[string]string{"XDG_CACHE_HOME": "/xdg"}, Client{Endpoint: "https://huggingface.co", CacheDir: "/xdg/huggingface/hub"}},
		{"HF_HOME and saved token", map[string]string{"HF_HOME": tokenHome, "XDG_CACHE_HOME": "/xdg"},
			Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(tokenHome, "hub"), Token: "hf_saved"}},
		{"HF_HUB_CACHE wins", map[string]string{"HF_HUB_CACHE": "/c", "HUGGINGFACE_HUB_CACHE": "/old", "HF_HOME": "/h"},
			Client{Endpoint: "https://huggingface.co", CacheDir: "/c"}},
		{"legacy cache variable", map[string]string{"HUGGINGFACE_HUB_CACHE": "/old", "HF_HOME": "/h"},
			Client{Endpoint: "https://huggingface.co", CacheDir: "/old"}},
		{"tilde", map[string]string{"HF_HUB_CACHE": "~/hub"}, Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(home, "hub")}},
		{"endpoint, token, offline", map[string]string{"HF_ENDPOINT": "https://mirror.example/", "HF_TOKEN": " hf_env ",
			"HF_HOME": tokenHome, "HF_HUB_OFFLINE": "1"},
			Client{Endpoint: "https://mirror.example", CacheDir: filepath.Join(tokenHome, "hub"), Token: "hf_env", Offline: true}},
		{"offline true", map[string]string{"HF_HUB_OFFLINE": "true"}, Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(home, ".cache", "huggingface", "hub"), Offline: true}},
		{"offline YES", map[string]string{"HF_HUB_OFFLINE": "YES"}, Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(home, ".cache", "huggingface", "hub"), Offline: true}},
		{"TRANSFORMERS_OFFLINE", map[string]string{"TRANSFORMERS_OFFLINE": "on"}, Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(home, ".cache", "huggingface", "hub"), Offline: true}},
		{"offline 0", map[string]string{"HF_HUB_OFFLINE": "0"}, Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(home, ".cache", "huggingface", "hub")}},
		{"download timeout", map[string]string{"HF_HUB_DOWNLOAD_TIMEOUT": "2.5"},
			Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(home, ".cache", "huggingface", "hub"), StallTimeout: 2500 * time.Millisecond}},
		{"bad download timeout", map[string]string{"HF_HUB_DOWNLOAD_TIMEOUT": "-3"},
			Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(home, ".cache", "huggingface", "hub")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HF_ENDPOINT", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME",
				"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DOWNLOAD_TIMEOUT"} {
				t.Setenv(k, tc.env[k])
			}
			t.Setenv("HOME", home)
			h := FromEnv()
			require.NotNil(t, h.HTTP)
			got := Client{Endpoint: h.Endpoint, CacheDir: h.CacheDir, Token: h.Token, Offline: h.Offline, StallTimeout: h.StallTimeout}
			require.Equal(t, tc.want, got)
		})
	}
}
