// Package deploy_test checks the KServe manifests and the Dockerfile: that
// they parse, carry the fields KServe requires, and agree with the server
// (ports, probe paths, model format) and with each other.
package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/server"
)

// The parts of the KServe and Kubernetes types the manifests use; unknown
// fields fail the parse, so a misspelled key is caught.
type (
	objectMeta struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	}
	servingRuntime struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
		Spec       struct {
			Annotations           map[string]string `yaml:"annotations"`
			SupportedModelFormats []struct {
				Name       string `yaml:"name"`
				Version    string `yaml:"version"`
				AutoSelect bool   `yaml:"autoSelect"`
				Priority   int    `yaml:"priority"`
			} `yaml:"supportedModelFormats"`
			ProtocolVersions []string    `yaml:"protocolVersions"`
			Containers       []container `yaml:"containers"`
		} `yaml:"spec"`
	}
	container struct {
		Name           string   `yaml:"name"`
		Image          string   `yaml:"image"`
		Args           []string `yaml:"args"`
		Ports          []port   `yaml:"ports"`
		ReadinessProbe *probe   `yaml:"readinessProbe"`
		LivenessProbe  *probe   `yaml:"livenessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			RunAsNonRoot             bool  `yaml:"runAsNonRoot"`
			RunAsUser                int64 `yaml:"runAsUser"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
	}
	port struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port int    `yaml:"port"`
		} `yaml:"httpGet"`
		InitialDelaySeconds int `yaml:"initialDelaySeconds"`
		PeriodSeconds       int `yaml:"periodSeconds"`
		FailureThreshold    int `yaml:"failureThreshold"`
	}
	inferenceService struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
		Spec       struct {
			Predictor struct {
				Model struct {
					ModelFormat struct {
						Name string `yaml:"name"`
					} `yaml:"modelFormat"`
					Runtime         string   `yaml:"runtime"`
					ProtocolVersion string   `yaml:"protocolVersion"`
					StorageURI      string   `yaml:"storageUri"`
					Args            []string `yaml:"args"`
					Resources       struct {
						Requests map[string]string `yaml:"requests"`
						Limits   map[string]string `yaml:"limits"`
					} `yaml:"resources"`
				} `yaml:"model"`
			} `yaml:"predictor"`
		} `yaml:"spec"`
	}
)

// decodeStrict parses one YAML document, refusing unknown fields.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(v), path)
}

// flagValue is the value of --name=value in args ("" when absent).
func flagValue(args []string, name string) string {
	v := ""
	for _, a := range args {
		if s, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			v = s
		}
	}
	return v
}

func TestServingRuntime(t *testing.T) {
	var rt servingRuntime
	decodeStrict(t, "servingruntime.yaml", &rt)
	require.Equal(t, "serving.kserve.io/v1alpha1", rt.APIVersion)
	require.Equal(t, "ServingRuntime", rt.Kind)
	require.Equal(t, "kserve-vkdeit", rt.Metadata.Name)
	require.Len(t, rt.Spec.SupportedModelFormats, 1)
	f := rt.Spec.SupportedModelFormats[0]
	require.Equal(t, "deit", f.Name)
	require.True(t, f.AutoSelect)
	require.Equal(t, []string{"v2", "grpc-v2"}, rt.Spec.ProtocolVersions)
	require.Equal(t, "8080", rt.Spec.Annotations["prometheus.kserve.io/port"])
	require.Equal(t, "/metrics", rt.Spec.Annotations["prometheus.kserve.io/path"])

	require.Len(t, rt.Spec.Containers, 1)
	c := rt.Spec.Containers[0]
	require.Equal(t, "kserve-container", c.Name, "KServe merges the InferenceService into the container of this name")
	require.NotEmpty(t, c.Image)
	require.Equal(t, "/mnt/models", flagValue(c.Args, "model"), "KServe's storage initializer writes the model there")
	require.Equal(t, "{{.Name}}", flagValue(c.Args, "name"), "the InferenceService's name is the model's")
	require.Equal(t, server.DefaultHTTPAddr, flagValue(c.Args, "http"))
	require.Equal(t, server.DefaultGRPCAddr, flagValue(c.Args, "grpc"))
	require.Equal(t, []port{{"http1", 8080, "TCP"}, {"h2c", 8081, "TCP"}}, c.Ports,
		"KServe and Knative tell REST from gRPC by the port names http1 and h2c")
	require.NotNil(t, c.ReadinessProbe)
	require.NotNil(t, c.LivenessProbe)
	require.Equal(t, "/v2/health/ready", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, "/v2/health/live", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, 8080, c.ReadinessProbe.HTTPGet.Port)
	require.Equal(t, 8080, c.LivenessProbe.HTTPGet.Port)
	require.Positive(t, c.ReadinessProbe.PeriodSeconds)
	require.Positive(t, c.LivenessProbe.FailureThreshold)
	require.NotEmpty(t, c.Resources.Requests["cpu"])
	require.NotEmpty(t, c.Resources.Limits["memory"])
	require.True(t, c.SecurityContext.RunAsNonRoot)
	require.Equal(t, int64(10001), c.SecurityContext.RunAsUser, "the Dockerfile's user")
	require.Equal(t, []string{"ALL"}, c.SecurityContext.Capabilities.Drop)

	// The probes, the metrics path and the flags' ports are what a real
	// server serves.
	paths := []string{c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path, rt.Spec.Annotations["prometheus.kserve.io/path"]}
	probeServer(t, paths)
}

// probeServer runs a server on the tiny fixture and checks that every path
// answers 200.
func probeServer(t *testing.T, paths []string) {
	t.Helper()
	files, err := hub.ResolveModel(context.Background(), "../testdata/tiny-distilled", nil)
	require.NoError(t, err)
	m, err := deit.Load(files)
	require.NoError(t, err)
	e, err := engine.New(m, engine.Options{Device: "ref", MaxBatch: 1})
	require.NoError(t, err)
	defer e.Close()
	s, err := server.New(m, e, server.Options{})
	require.NoError(t, err)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, hl, nil) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Eventually(t, s.Ready, 5*time.Second, time.Millisecond)
	for _, p := range paths {
		resp, err := http.Get(fmt.Sprintf("http://%s%s", hl.Addr(), p))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, p)
	}
}

func TestInferenceServices(t *testing.T) {
	var rt servingRuntime
	decodeStrict(t, "servingruntime.yaml", &rt)
	for _, tt := range []struct {
		file string
		gpu  bool
	}{{"inferenceservice.yaml", false}, {"inferenceservice-gpu.yaml", true}} {
		t.Run(tt.file, func(t *testing.T) {
			var is inferenceService
			decodeStrict(t, tt.file, &is)
			require.Equal(t, "serving.kserve.io/v1beta1", is.APIVersion)
			require.Equal(t, "InferenceService", is.Kind)
			require.Regexp(t, regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`), is.Metadata.Name, "a DNS-1035 label")
			require.NotContains(t, is.Metadata.Name, "/", "usable as a model name")
			require.Equal(t, "RawDeployment", is.Metadata.Annotations["serving.kserve.io/deploymentMode"], "two ports need raw mode")
			mod := is.Spec.Predictor.Model
			require.Equal(t, rt.Spec.SupportedModelFormats[0].Name, mod.ModelFormat.Name)
			require.Equal(t, rt.Metadata.Name, mod.Runtime)
			require.True(t, slices.Contains(rt.Spec.ProtocolVersions, mod.ProtocolVersion))
			require.Regexp(t, `^(hf|s3|gs|pvc|https?)://.+`, mod.StorageURI)
			if tt.gpu {
				require.Equal(t, "1", mod.Resources.Limits["nvidia.com/gpu"])
			} else {
				require.Empty(t, mod.Resources.Limits["nvidia.com/gpu"])
			}
		})
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	var froms, runs []string
	instr := map[string][]string{}
	// Join continuation lines, drop comments.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.Join(strings.Fields(line), " ")
		kw, rest, _ := strings.Cut(line, " ")
		kw = strings.ToUpper(kw)
		instr[kw] = append(instr[kw], strings.TrimSpace(rest))
		switch kw {
		case "FROM":
			froms = append(froms, rest)
		case "RUN":
			runs = append(runs, rest)
		}
	}
	require.Len(t, froms, 2, "multi-stage: a builder and a runtime")
	require.Regexp(t, `^golang:\$\{GO_VERSION\}-bookworm AS build$`, froms[0])
	require.Equal(t, []string{"GO_VERSION=1.26"}, instr["ARG"], "go.mod's Go version")
	require.Equal(t, "debian:bookworm-slim", froms[1])
	for _, pkg := range []string{"gcc", "libvulkan-dev", "libjpeg62-turbo-dev"} {
		require.Contains(t, runs[0], " "+pkg, "builder package %s", pkg)
	}
	for _, pkg := range []string{"libvulkan1", "mesa-vulkan-drivers", "libjpeg62-turbo "} {
		require.Contains(t, runs[len(runs)-1], " "+pkg, "runtime package %s", pkg)
	}
	for _, r := range runs {
		if strings.Contains(r, "apt-get install") {
			require.Contains(t, r, "--no-install-recommends")
			require.Contains(t, r, "apt-get update &&", "update and install in one layer")
			require.Contains(t, r, "rm -rf /var/lib/apt/lists/*")
		}
	}
	require.Contains(t, instr["COPY"], "--from=build /out/vkdeit /usr/local/bin/vkdeit")
	require.Equal(t, []string{"10001:10001"}, instr["USER"], "non-root, matching the ServingRuntime's runAsUser")
	require.Equal(t, []string{"8080 8081"}, instr["EXPOSE"])
	require.Equal(t, []string{`["/usr/local/bin/vkdeit", "serve"]`}, instr["ENTRYPOINT"])
	require.Equal(t, []string{`["--model", "/mnt/models"]`}, instr["CMD"])
	require.Contains(t, strings.Join(instr["ENV"], " "), "NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics", "Vulkan needs the graphics capability")
	require.Empty(t, instr["ADD"], "COPY, not ADD")

	ignore, err := os.ReadFile("../.dockerignore")
	require.NoError(t, err)
	for _, p := range []string{".git", "testdata", "bin"} {
		require.Contains(t, strings.Split(string(ignore), "\n"), p)
	}
}
