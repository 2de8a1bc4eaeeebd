package gpu_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

func TestDeviceInfo(t *testing.T) {
	d := gputest.Open(t)
	info := d.Info()
	t.Logf("device: %+v", info)
	require.NotEmpty(t, info.Name)
	require.NotEmpty(t, info.Driver)
	require.Regexp(t, `^1\.\d+\.\d+$`, info.APIVersion)
	// Vulkan's required minimums for compute limits.
	require.GreaterOrEqual(t, info.MaxWorkgroupInvocations, uint32(128))
	require.GreaterOrEqual(t, info.MaxWorkgroupSize[0], uint32(128))
	require.GreaterOrEqual(t, info.MaxWorkgroupCount[0], uint32(65535))
	require.GreaterOrEqual(t, info.MaxSharedMemory, uint32(16384))
	require.NotZero(t, info.DeviceLocalBytes)
	require.NotZero(t, info.SubgroupSize)
	require.Zero(t, info.SubgroupSize&(info.SubgroupSize-1), "subgroup size %d is not a power of two", info.SubgroupSize)
	if info.Timestamps {
		require.Greater(t, info.TimestampPeriod, float32(0))
	}
	if info.Type == gpu.DeviceCPU {
		require.True(t, info.Unified, "a CPU device's memory is host memory")
	}

	all, err := gpu.Devices()
	require.NoError(t, err)
	require.Greater(t, len(all), info.Index)
	require.Equal(t, info.Name, all[info.Index].Name)
	require.Equal(t, info.Index, all[info.Index].Index)
}

func TestDeviceTypeString(t *testing.T) {
	for ty, want := range map[gpu.DeviceType]string{
		gpu.DeviceOther: "other", gpu.DeviceIntegrated: "integrated", gpu.DeviceDiscrete: "discrete",
		gpu.DeviceVirtual: "virtual", gpu.DeviceCPU: "cpu",
	} {
		require.Equal(t, want, ty.String())
	}
}

func TestSelect(t *testing.T) {
	all, err := gpu.Devices()
	if errors.Is(err, gpu.ErrNoDevice) {
		gputest.Open(t) // skips or fails per $CI
	}
	require.NoError(t, err)
	tests := []struct {
		name    string
		sel     string
		wantErr string // "" = opens device 0
	}{
		{"index", "0", ""},
		{"name substring", all[0].Name[:len(all[0].Name)/2], ""},
		{"bad name", "no-such-device-xyzzy", `no device matches "no-such-device-xyzzy": available devices are`},
		{"index out of range", strconv.Itoa(len(all) + 3), "out of range"},
		{"negative index", "-1", "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantErr != "" {
				d, err := gpu.Open(gpu.Options{Select: tc.sel, Log: &bytes.Buffer{}})
				require.Error(t, err)
				require.Nil(t, d)
				require.Contains(t, err.Error(), tc.wantErr)
				require.Contains(t, err.Error(), all[0].Name, "the error lists the devices")
				return
			}
			d := gputest.OpenOptions(t, gpu.Options{Select: tc.sel})
			require.Equal(t, all[0].Name, d.Info().Name)
		})
	}
}

func TestSelectFromEnvironment(t *testing.T) {
	all, err := gpu.Devices()
	if errors.Is(err, gpu.ErrNoDevice) {
		gputest.Open(t)
	}
	require.NoError(t, err)
	t.Setenv("VKDEIT_DEVICE", "no-such-device-xyzzy")
	t.Setenv("VKDEIT_VALIDATION", "1")
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	opts := gpu.OptionsFromEnv()
	require.Equal(t, gpu.Options{Select: "no-such-device-xyzzy", Validation: true, CacheDir: filepath.Join(cache, "vkdeit")}, opts)
	_, err = gpu.Open(opts)
	require.ErrorContains(t, err, "no-such-device-xyzzy")
	// Open itself reads no environment: with the bad name still set, it
	// opens the default device.
	d := gputest.OpenOptions(t, gpu.Options{})
	require.NotEmpty(t, d.Info().Name, "devices: %v", all)
	t.Setenv("VKDEIT_VALIDATION", "")
	require.Equal(t, gpu.Options{Select: "no-such-device-xyzzy", CacheDir: filepath.Join(cache, "vkdeit")}, gpu.OptionsFromEnv())
}

func TestCloseTwice(t *testing.T) {
	d := gputest.Open(t)
	b, err := d.NewBuffer(1024)
	require.NoError(t, err)
	s, err := d.NewSequence(true)
	require.NoError(t, err)
	p, err := d.Pipeline(rtAdd)
	require.NoError(t, err)
	require.NoError(t, s.Dispatch("add", p, rtGroups(256), gpu.Push(256, float32(1)), gpu.R(b).Range(0, 512), gpu.W(b).Range(512, 0)))
	// The sequence is left open: Close must free it without leaks (the
	// gputest cleanup fails the test on any validation message).
	require.NoError(t, d.Close())
	require.NoError(t, d.Close())
	s.Close()
	_, err = d.NewBuffer(16)
	require.ErrorContains(t, err, "closed")
	require.ErrorContains(t, d.Write(b, 0, []float32{1}), "closed")
	require.ErrorContains(t, d.Read(b, 0, []float32{1}), "closed")
	require.ErrorContains(t, s.Run(context.Background()), "closed")
	_, err = d.Pipeline(rtInc)
	require.ErrorContains(t, err, "closed")
	_, err = d.NewSequence(false)
	require.ErrorContains(t, err, "closed")
}

// TestNoDevice hides every driver from the Vulkan loader: Devices and Open
// must fail with ErrNoDevice and say what to install, not crash.
func TestNoDevice(t *testing.T) {
	if _, err := gpu.Devices(); err != nil {
		gputest.Open(t) // no loader at all: skips or fails per $CI
	}
	t.Setenv("VK_ICD_FILENAMES", "/nonexistent/vkdeit_icd.json")
	t.Setenv("VK_DRIVER_FILES", "/nonexistent/vkdeit_icd.json")
	_, err := gpu.Devices()
	require.ErrorIs(t, err, gpu.ErrNoDevice)
	require.ErrorContains(t, err, "libvulkan1")
	require.ErrorContains(t, err, "mesa-vulkan-drivers")
	d, err := gpu.Open(gpu.Options{Validation: true, Log: &bytes.Buffer{}})
	require.Nil(t, d)
	require.ErrorIs(t, err, gpu.ErrNoDevice)
	t.Logf("error: %v", err)
}

// TestDeviceFeatures checks the fp16 and cooperative-matrix report against
// itself and that Options.NoCoopMat turns cooperative matrices off. On the
// coopmat lane (make test-coopmat sets VKDEIT_REQUIRE_COOPMAT=1) the device
// must offer them.
func TestDeviceFeatures(t *testing.T) {
	d := gputest.Open(t)
	info := d.Info()
	t.Logf("fp16 %v (shaderFloat16 %v, 16-bit storage %v), memory model %v, coopmat %v (%s)",
		info.FP16(), info.ShaderFloat16, info.StorageBuffer16Bit, info.VulkanMemoryModel, info.CoopMat, info.CoopMatNote)
	for _, s := range info.CoopMatShapes {
		t.Logf("  %v", s)
		require.NotZero(t, s.M*s.N*s.K, "%v", s)
	}
	require.NotEmpty(t, info.CoopMatNote)
	if info.CoopMat {
		require.True(t, info.FP16() && info.VulkanMemoryModel, "coopmat without the features its shaders need")
		require.NotEmpty(t, info.HalfFloatShapes())
	}
	if os.Getenv("VKDEIT_REQUIRE_COOPMAT") == "1" {
		require.True(t, info.CoopMat, "VKDEIT_REQUIRE_COOPMAT=1 but %s: %s", info.Name, info.CoopMatNote)
	}
	off := gputest.OpenOptions(t, gpu.Options{Select: strconv.Itoa(info.Index), NoCoopMat: true})
	require.False(t, off.Info().CoopMat)
	require.Equal(t, info.FP16(), off.Info().FP16())
	if info.CoopMat {
		require.Contains(t, off.Info().CoopMatNote, "turned off")
	}
	t.Setenv("VKDEIT_COOPMAT", "0")
	require.True(t, gpu.OptionsFromEnv().NoCoopMat)
}
