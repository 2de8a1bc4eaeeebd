package gpu

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"github.com/vkdeit/vkdeit/internal/version"
)

// Tuning is what the tuner measured on one device: for each shape (by
// Shape.Key) the fastest configuration that passed its parity check. A
// Device carries the tuning of its cache directory (Options.CacheDir) and
// every Ops made from it runs tuned shapes with their configuration, the
// others with the heuristic.
type Tuning struct {
	Entries map[string]TuneEntry `json:"entries"`
}

// TuneEntry is one tuned shape: the winner and, for comparison, the
// heuristic's configuration and time (GPU timestamps, median, µs).
type TuneEntry struct {
	Shape           Shape        `json:"shape"`
	Config          KernelConfig `json:"config"`
	Micros          float64      `json:"us"`
	Heuristic       KernelConfig `json:"heuristic"`
	HeuristicMicros float64      `json:"heuristic_us"`
}

// Configs returns the tuned configuration of each shape key (nil for a nil
// or empty tuning).
func (t *Tuning) Configs() map[string]KernelConfig {
	if t == nil || len(t.Entries) == 0 {
		return nil
	}
	out := make(map[string]KernelConfig, len(t.Entries))
	for k, e := range t.Entries {
		out[k] = e.Config
	}
	return out
}

// Has reports whether the tuning holds shape s.
func (t *Tuning) Has(s Shape) bool {
	if t == nil {
		return false
	}
	_, ok := t.Entries[s.Key()]
	return ok
}

// merged returns a new tuning with u's entries over t's.
func (t *Tuning) merged(u *Tuning) *Tuning {
	out := &Tuning{Entries: map[string]TuneEntry{}}
	if t != nil {
		maps.Copy(out.Entries, t.Entries)
	}
	if u != nil {
		maps.Copy(out.Entries, u.Entries)
	}
	return out
}

// Tuning returns the device's tuning: what its cache directory held when it
// opened, plus what SetTuning added since. Never nil.
func (d *Device) Tuning() *Tuning {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tuning == nil {
		return &Tuning{Entries: map[string]TuneEntry{}}
	}
	return d.tuning
}

// TuningNote says where the device's tuning came from, or why it has none
// (no cache directory, none saved yet, a corrupt or foreign file ignored).
func (d *Device) TuningNote() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tuningNote
}

// SetTuning adds t's entries to the device's tuning; Ops made afterwards
// use them (Ops made before keep what they had: an Ops never changes).
func (d *Device) SetTuning(t *Tuning) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tuning = d.tuning.merged(t)
}

// DefaultCacheDir is vkdeit's cache directory: $XDG_CACHE_HOME/vkdeit
// (os.UserCacheDir: ~/.cache/vkdeit on Linux), or "" when there is no home
// to put it in. OptionsFromEnv sets Options.CacheDir to it.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "vkdeit")
}

// tuneFormat is the tuning file's format version.
const tuneFormat = 1

// tuneKey is what a tuning file is valid for: a new driver build
// (DriverVersion, PipelineCacheUUID), another device or another vkdeit
// (whose kernels may differ) makes it foreign.
type tuneKey struct {
	VendorID          uint32 `json:"vendor_id"`
	DeviceID          uint32 `json:"device_id"`
	DriverVersion     uint32 `json:"driver_version"`
	PipelineCacheUUID string `json:"pipeline_cache_uuid"`
	Device            string `json:"device"`
	Driver            string `json:"driver"`
	Vkdeit            string `json:"vkdeit"`
}

// tuneFile is the JSON a tuning is stored as.
type tuneFile struct {
	Format int     `json:"format"`
	Key    tuneKey `json:"key"`
	Tuning
}

func keyOf(info DeviceInfo) tuneKey {
	return tuneKey{
		VendorID: info.VendorID, DeviceID: info.DeviceID, DriverVersion: info.DriverVersion,
		PipelineCacheUUID: hex.EncodeToString(info.PipelineCacheUUID[:]),
		Device:            info.Name, Driver: info.Driver, Vkdeit: version.String(),
	}
}

// TuningPath is the file under dir that holds the tuning of the device
// described by info: one file per device, driver build and vkdeit build
// (tune-VENDOR-DEVICE-HASH.json).
func TuningPath(dir string, info DeviceInfo) string {
	return filepath.Join(dir, cacheName("tune", info)+".json")
}

// cacheName is the base name of a cache file of the device described by
// info: PREFIX-VENDOR-DEVICE-HASH, HASH being the 64-bit FNV-1a of its
// tuneKey. The tuning and the pipeline cache share it, so that both are
// valid for the same device, driver build and vkdeit build.
func cacheName(prefix string, info DeviceInfo) string {
	return fmt.Sprintf("%s-%04x-%04x-%016x", prefix, info.VendorID, info.DeviceID, keyHash(info))
}

// keyHash is the 64-bit FNV-1a of the JSON of info's tuneKey.
func keyHash(info DeviceInfo) uint64 {
	h := fnv.New64a()
	b, _ := json.Marshal(keyOf(info))
	h.Write(b)
	return h.Sum64()
}

// maxTuneFile bounds the bytes read from a tuning file: thousands of
// entries fit in far less.
const maxTuneFile = 8 << 20

// LoadTuning reads the tuning for the device described by info from dir.
// A missing file gives an empty tuning; a corrupt, oversized or foreign one
// (another device, driver or vkdeit build) is ignored: an empty tuning and
// a note saying why. The error is for a file that exists but cannot be read.
func LoadTuning(dir string, info DeviceInfo) (*Tuning, string, error) {
	empty := &Tuning{Entries: map[string]TuneEntry{}}
	if dir == "" {
		return empty, "no cache directory", nil
	}
	path := TuningPath(dir, info)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, fmt.Sprintf("no tuning saved for %s in %s", info.Name, dir), nil
	}
	if err != nil {
		return empty, "", fmt.Errorf("gpu: tuning cache: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return empty, "", fmt.Errorf("gpu: tuning cache: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > maxTuneFile {
		return empty, fmt.Sprintf("ignored %s: not a regular file of at most %d bytes", path, maxTuneFile), nil
	}
	var tf tuneFile
	if err := json.NewDecoder(f).Decode(&tf); err != nil {
		return empty, fmt.Sprintf("ignored %s: corrupt (%v)", path, err), nil
	}
	if tf.Format != tuneFormat || tf.Key != keyOf(info) {
		return empty, fmt.Sprintf("ignored %s: made for another device, driver or vkdeit build", path), nil
	}
	for k, e := range tf.Entries {
		if e.Shape.Op != e.Config.Op || e.Shape.Key() != k {
			return empty, fmt.Sprintf("ignored %s: corrupt (entry %q does not match its shape)", path, k), nil
		}
	}
	if tf.Entries == nil {
		tf.Entries = map[string]TuneEntry{}
	}
	return &tf.Tuning, fmt.Sprintf("tuning for %d shapes from %s", len(tf.Entries), path), nil
}

// SaveTuning merges t into the tuning file of the device described by info
// under dir (creating dir): the file is re-read, t's entries replace those
// of the same shapes, and the result is written to a temporary file that is
// renamed over the old one, so that a reader (another process) sees the old
// file or the new one, never a mix. Two processes saving at once never
// corrupt the file; the last rename wins, and shapes only the other process
// tuned are tuned again on its next run.
func SaveTuning(dir string, info DeviceInfo, t *Tuning) (string, error) {
	if dir == "" {
		return "", errors.New("gpu: tuning cache: no cache directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("gpu: tuning cache: %w", err)
	}
	old, _, err := LoadTuning(dir, info)
	if err != nil {
		return "", err
	}
	path := TuningPath(dir, info)
	b, err := json.MarshalIndent(tuneFile{Format: tuneFormat, Key: keyOf(info), Tuning: *old.merged(t)}, "", " ")
	if err != nil {
		return "", fmt.Errorf("gpu: tuning cache: %w", err)
	}
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return "", fmt.Errorf("gpu: tuning cache: %w", err)
	}
	return path, nil
}

// writeAtomic writes b to a temporary file beside path, syncs it and renames
// it over path.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
