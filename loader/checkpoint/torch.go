package checkpoint

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// torchMaxPickle bounds the size of data.pkl. Real state-dict pickles are a
// few tens of kilobytes; the tensor bytes live in separate records.
const torchMaxPickle = 256 << 20

// torchMaxExpand is the largest tensor allowed to hold more elements than its
// storage (a zero-stride, expanded view), so a tiny hostile file cannot make
// the loader allocate gigabytes.
const torchMaxExpand = 1 << 20

// torchBudget bounds the float32 values all tensors of a checkpoint may
// expand to: views may share one storage (tied weights, slices), so the
// output can legitimately exceed the file, but a few hundred bytes of pickle
// naming the same storage a thousand times must not allocate gigabytes.
// Output bytes may reach 8× the file size plus 64 MiB.
func torchBudget(fileSize int64) int64 { return 2*fileSize + 1<<24 }

// torchStorage is a storage named by a checkpoint's persistent ids.
type torchStorage struct {
	key   string
	dtype tensorDtype
	numel int64 // elements
	// Legacy format views: this storage is numel elements of root starting
	// at element viewOffset.
	root       *torchStorage
	viewOffset int64
}

// torchRef is one named tensor of the state dict, not yet read.
type torchRef struct {
	name string
	t    *pickleTensor
	st   *torchStorage
}

// ReadTorch reads the tensors of a PyTorch checkpoint written by torch.save:
// the zip format (torch ≥ 1.6: pytorch_model.bin, modern .pth) or the legacy
// pickle-stream format (_use_new_zipfile_serialization=False, torch < 1.6).
// The pickle is read by a small unpickler that executes nothing and accepts
// only an allow-list of globals (OrderedDict, torch._utils._rebuild_tensor_v2
// and _rebuild_parameter, the torch.*Storage classes, plus a few inert
// plain-data classes such as argparse.Namespace that become opaque values);
// anything else, such as os.system, is an error naming the global.
//
// The state dict is the top-level dict, or its "model" entry and then that
// entry's "state_dict" entry when those are dicts (the way timm unwraps
// Facebook and training checkpoints). Its tensor values are returned,
// converted to float32 honouring storage offset, strides, shared storages
// and the byteorder record; entries that are not tensors are skipped.
// Integer and bool tensors are converted to float32 too (exact up to 2^24).
func ReadTorch(path string) (map[string]*Tensor, error) {
	return readPath(path, formatAnyTorch)
}

// torchRead converts every tensor of a PyTorch checkpoint (tests and
// fuzzing).
func torchRead(src *weightsSource) (map[string]*Tensor, error) {
	return readSource(src, formatAnyTorch)
}

// torchFormatError explains why a file of format f is not read as a
// PyTorch checkpoint.
func torchFormatError(f weightsFormat) error {
	switch f {
	case formatTorchTar:
		return errors.New("tar-based torch checkpoint (torch < 0.4) is not supported; re-save it with a current torch")
	case formatPickle:
		return errors.New("pickle stream without the torch magic number: not a PyTorch checkpoint")
	case formatSafetensors:
		return errors.New("a safetensors file, not a PyTorch checkpoint")
	}
	return errors.New("not a PyTorch checkpoint (neither a zip archive nor a torch.save pickle stream)")
}

// torchIndex reads the index of src, a torch container of format f.
func torchIndex(src *weightsSource, f weightsFormat) ([]Info, tensorReader, error) {
	var x *torchIndexed
	var err error
	switch f {
	case formatTorchZip:
		x, err = torchIndexZip(src)
	case formatTorchLegacy:
		x, err = torchIndexLegacy(src)
	default:
		return nil, nil, torchFormatError(f)
	}
	if err != nil {
		return nil, nil, err
	}
	index := make([]Info, len(x.refs))
	for i, r := range x.refs {
		if _, err := tensorNumel(r.t.shape); err != nil {
			return nil, nil, fmt.Errorf("tensor %s: %w", quoteShort(r.name), err)
		}
		index[i] = Info{Name: r.name, Shape: tensorShapeInts(r.t.shape), DType: r.st.dtype.String()}
	}
	return index, x.read, nil
}

// torchIndexed is a torch checkpoint whose pickle has been read: its
// tensors and how to load their storages.
type torchIndexed struct {
	refs      []torchRef
	load      func(*torchStorage) ([]byte, error) // exactly numel·size bytes of a root storage
	bigEndian bool
	budget    int64 // float32 values one read may produce
}

// read converts the named tensors, in file order.
func (x *torchIndexed) read(names []string) (map[string]*Tensor, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var sel []torchRef
	for _, r := range x.refs {
		if want[r.name] {
			sel = append(sel, r)
		}
	}
	return torchMaterialize(sel, x.load, x.bigEndian, x.budget)
}

// torchIndexZip reads the zip format: <dir>/data.pkl plus <dir>/data/<key>
// records holding the raw storages.
func torchIndexZip(src *weightsSource) (*torchIndexed, error) {
	zr, err := zip.NewReader(src.ra, src.size)
	if err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	files := make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	prefix := ""
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			// Readers disagree on which copy counts: refuse rather than guess.
			return nil, fmt.Errorf("zip holds two records named %s", f.Name)
		}
		files[f.Name] = f
		dir, base, ok := strings.Cut(f.Name, "/")
		if ok && base == "data.pkl" {
			if pkl != nil {
				return nil, fmt.Errorf("zip holds both %s and %s", pkl.Name, f.Name)
			}
			pkl, prefix = f, dir+"/"
		}
	}
	if pkl == nil {
		return nil, errors.New("zip archive has no <dir>/data.pkl record: not a PyTorch checkpoint")
	}
	bigEndian := false
	if f := files[prefix+"byteorder"]; f != nil {
		b, err := torchZipRecord(f, 16)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		switch strings.TrimSpace(string(b)) {
		case "little":
		case "big":
			bigEndian = true
		default:
			return nil, fmt.Errorf("%s: unknown byte order %q", f.Name, b)
		}
	}
	data, err := torchZipRecord(pkl, torchMaxPickle)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	storages := make(map[string]*torchStorage)
	root, _, err := unpickle(bufio.NewReader(bytes.NewReader(data)), int64(len(data)), func(pid any) (any, error) {
		return torchPersistent(pid, storages, false)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	refs, err := torchStateDict(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	// The storages of a real checkpoint add up to at most the file size.
	// Records may overlap or be compressed, though, so a small hostile file
	// could otherwise name the same megabytes, or a deflate bomb, over and
	// over: the bytes read in total get the same bound as the output values.
	loadLeft := 4 * torchBudget(src.size)
	load := func(st *torchStorage) ([]byte, error) {
		name := prefix + "data/" + st.key
		f := files[name]
		if f == nil {
			return nil, fmt.Errorf("storage %s: record %s is missing", quoteShort(st.key), name)
		}
		need := st.numel * st.dtype.size()
		if f.UncompressedSize64 < uint64(need) {
			return nil, fmt.Errorf("storage %s: record %s holds %d bytes, but %d %v elements need %d", quoteShort(st.key), name, f.UncompressedSize64, st.numel, st.dtype, need)
		}
		if need > loadLeft {
			return nil, fmt.Errorf("storage %s: record %s: storages add up to more than %d bytes, too many for the %d-byte file", quoteShort(st.key), name, 4*torchBudget(src.size), src.size)
		}
		loadLeft -= need
		// A stored record is read in place, but only when the zip says that
		// many bytes are actually stored: otherwise the read would run into
		// the records that follow it (torchZipRecord then reports the short
		// record).
		if f.Method == zip.Store && f.CompressedSize64 >= uint64(need) {
			off, err := f.DataOffset()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			b, err := src.bytes(off, need)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return b, nil
		}
		b, err := torchZipRecord(f, need)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if int64(len(b)) < need {
			return nil, fmt.Errorf("storage %s: record %s holds %d bytes, need %d", quoteShort(st.key), name, len(b), need)
		}
		return b, nil
	}
	return &torchIndexed{refs: refs, load: load, bigEndian: bigEndian, budget: torchBudget(src.size)}, nil
}

// torchZipRecord reads up to limit bytes of a (possibly compressed) record;
// a longer record is an error. Memory grows only with the bytes actually
// produced, so a record that lies about its size cannot force a huge
// allocation.
func torchZipRecord(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("record is %d bytes, more than the %d expected", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("record is longer than the %d bytes expected", limit)
	}
	return b, nil
}

// torchPersistent turns a persistent id ('storage', <storage class>, key,
// location, numel) — with a sixth view-metadata element in the legacy
// format — into a *torchStorage, checking it against earlier mentions of the
// same key.
func torchPersistent(pid any, storages map[string]*torchStorage, legacy bool) (any, error) {
	t, ok := pid.(*pickleTuple)
	want := 5
	if legacy {
		want = 6
	}
	if !ok || len(t.items) != want {
		return nil, fmt.Errorf("persistent id is %s, not a %d-element storage tuple", pickleTypeName(pid), want)
	}
	if s, _ := t.items[0].(string); s != "storage" {
		return nil, fmt.Errorf("persistent id of kind %s, not 'storage'", pickleShort(t.items[0]))
	}
	g, ok := t.items[1].(*pickleGlobal)
	if !ok || g.kind != pkStorage {
		return nil, fmt.Errorf("persistent id names %s, not a torch storage class", pickleTypeName(t.items[1]))
	}
	key, ok := t.items[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a string", pickleTypeName(t.items[2]))
	}
	numel, ok := t.items[4].(int64)
	if !ok || numel < 0 || numel > tensorMaxElems {
		return nil, fmt.Errorf("storage %s: element count %s is not a valid size", quoteShort(key), pickleShort(t.items[4]))
	}
	st, err := torchStorageFor(storages, key, g.dtype, numel, nil, 0)
	if err != nil {
		return nil, err
	}
	if !legacy || t.items[5] == nil {
		return st, nil
	}
	view, ok := t.items[5].(*pickleTuple)
	if !ok || len(view.items) != 3 {
		return nil, fmt.Errorf("storage %s: view metadata is %s, not (key, offset, size)", quoteShort(key), pickleTypeName(t.items[5]))
	}
	vkey, ok1 := view.items[0].(string)
	voff, ok2 := view.items[1].(int64)
	vsize, ok3 := view.items[2].(int64)
	if !ok1 || !ok2 || !ok3 || voff < 0 || vsize < 0 || voff > numel || vsize > numel-voff {
		return nil, fmt.Errorf("storage %s: view (%s, %s, %s) does not fit its %d elements", quoteShort(key), pickleShort(view.items[0]), pickleShort(view.items[1]), pickleShort(view.items[2]), numel)
	}
	return torchStorageFor(storages, vkey, g.dtype, vsize, st, voff)
}

// torchStorageFor returns the storage for key, creating it on first use and
// rejecting later mentions that disagree.
func torchStorageFor(storages map[string]*torchStorage, key string, dt tensorDtype, numel int64, root *torchStorage, off int64) (*torchStorage, error) {
	if st, ok := storages[key]; ok {
		if st.dtype != dt || st.numel != numel || st.root != root || st.viewOffset != off {
			return nil, fmt.Errorf("storage %s is declared twice with different types or sizes", quoteShort(key))
		}
		return st, nil
	}
	st := &torchStorage{key: key, dtype: dt, numel: numel, root: root, viewOffset: off}
	storages[key] = st
	return st, nil
}

// torchStateDict finds the state dict in an unpickled checkpoint and lists
// its tensors in file order.
func torchStateDict(root any) ([]torchRef, error) {
	d, ok := root.(*pickleDict)
	if !ok {
		return nil, fmt.Errorf("checkpoint holds a %s, not a dict of tensors", pickleTypeName(root))
	}
	for _, k := range []string{"model", "state_dict"} {
		if v, ok := d.get(k); ok {
			if sub, ok := v.(*pickleDict); ok {
				d = sub
			}
		}
	}
	var refs []torchRef
	var keys []string
	for i, k := range d.keys {
		name, isStr := k.(string)
		if isStr {
			keys = append(keys, name)
		}
		t, ok := d.vals[i].(*pickleTensor)
		if !ok {
			continue
		}
		if !isStr {
			return nil, fmt.Errorf("tensor under a %s key, not a name", pickleTypeName(k))
		}
		st, ok := t.storage.(*torchStorage)
		if !ok {
			return nil, fmt.Errorf("tensor %s: storage is %s, not a persistent storage", quoteShort(name), pickleTypeName(t.storage))
		}
		refs = append(refs, torchRef{name: name, t: t, st: st})
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("no tensors found (dict keys: %s)", tensorNameList(keys, 10))
	}
	return refs, nil
}

// torchMaterialize checks that the tensors fit budget values in total, then
// reads each needed root storage once (via load, which
// returns exactly numel·size bytes) and converts the tensors that use it.
// Tensors are grouped by storage so that, without a memory mapping, only
// one storage's bytes are held at a time.
func torchMaterialize(refs []torchRef, load func(*torchStorage) ([]byte, error), bigEndian bool, budget int64) (map[string]*Tensor, error) {
	var total int64
	for _, r := range refs {
		n, err := tensorNumel(r.t.shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", quoteShort(r.name), err)
		}
		if total += n; total > budget {
			return nil, fmt.Errorf("tensors expand to more than %d values (at tensor %s), too many for the file size", budget, quoteShort(r.name))
		}
	}
	var order []*torchStorage
	groups := make(map[*torchStorage][]int)
	for i, r := range refs {
		root := r.st
		if root.root != nil {
			root = root.root
		}
		if _, ok := groups[root]; !ok {
			order = append(order, root)
		}
		groups[root] = append(groups[root], i)
	}
	out := make(map[string]*Tensor, len(refs))
	for _, root := range order {
		raw, err := load(root)
		if err != nil {
			return nil, err
		}
		esz := root.dtype.size()
		for _, i := range groups[root] {
			r := refs[i]
			view := raw[r.st.viewOffset*esz : (r.st.viewOffset+r.st.numel)*esz]
			data, err := torchGather(r.t, view, r.st.dtype, bigEndian, r.st.numel)
			if err != nil {
				return nil, fmt.Errorf("tensor %s (storage %s): %w", quoteShort(r.name), quoteShort(r.st.key), err)
			}
			out[r.name] = &Tensor{Name: r.name, Shape: tensorShapeInts(r.t.shape), Data: data}
		}
	}
	return out, nil
}

// torchGather converts the elements of t from a storage of avail elements
// held in raw: element idx is storage[offset + Σ idx_k·stride_k].
func torchGather(t *pickleTensor, raw []byte, dt tensorDtype, bigEndian bool, avail int64) ([]float32, error) {
	n, err := tensorNumel(t.shape)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return []float32{}, nil
	}
	last := t.offset
	for k, size := range t.shape {
		step := size - 1
		if step == 0 || t.stride[k] == 0 {
			continue
		}
		if step > (tensorMaxElems-last)/t.stride[k] {
			return nil, fmt.Errorf("size %v with stride %v overflows", t.shape, t.stride)
		}
		last += step * t.stride[k]
	}
	if last >= avail {
		return nil, fmt.Errorf("offset %d, size %v, stride %v reach element %d, but the storage holds %d",
			t.offset, t.shape, t.stride, last, avail)
	}
	if n > avail && n > torchMaxExpand {
		return nil, fmt.Errorf("size %v has %d elements but its storage only %d (expanded views over %d elements are not supported)",
			t.shape, n, avail, torchMaxExpand)
	}
	out := make([]float32, n)
	esz := dt.size()
	if torchContiguous(t.shape, t.stride) {
		if err := tensorDecodeContiguous(out, raw[t.offset*esz:], dt, bigEndian); err != nil {
			return nil, err
		}
		return out, nil
	}
	dec, err := tensorDecoder(dt, bigEndian)
	if err != nil {
		return nil, err
	}
	rank := len(t.shape)
	idx := make([]int64, rank)
	pos := t.offset
	for i := range out {
		out[i] = dec(raw[pos*esz:])
		for k := rank - 1; k >= 0; k-- {
			idx[k]++
			pos += t.stride[k]
			if idx[k] < t.shape[k] {
				break
			}
			pos -= t.stride[k] * t.shape[k]
			idx[k] = 0
		}
	}
	return out, nil
}

// torchContiguous reports whether stride is the row-major stride of shape
// (dimensions of size 1 may have any stride).
func torchContiguous(shape, stride []int64) bool {
	want := int64(1)
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] != 1 && stride[k] != want {
			return false
		}
		want *= shape[k]
	}
	return true
}
