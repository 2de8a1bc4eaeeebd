package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// torchLegacyMagic and torchLegacyProtocol open every legacy (pre-zip)
// torch.save stream.
const (
	torchLegacyMagic    = "1950a86a20f9469cfc6c"
	torchLegacyProtocol = 1001
)

// torchIndexLegacy reads the legacy pickle-stream format: five pickles
// (magic number, protocol version, sys_info, the object, the sorted list of
// storage keys) followed, for each key in that list, by an int64
// little-endian element count and the storage's raw little-endian bytes.
func torchIndexLegacy(src *weightsSource) (*torchIndexed, error) {
	r := bufio.NewReader(io.NewSectionReader(src.ra, 0, src.size))
	var pos int64
	next := func(what string, persistent func(any) (any, error)) (any, error) {
		v, n, err := unpickle(r, src.size-pos, persistent)
		pos += n
		if err != nil {
			return nil, fmt.Errorf("legacy torch checkpoint, %s: %w", what, err)
		}
		return v, nil
	}
	magic, err := next("magic number", nil)
	if err != nil {
		return nil, err
	}
	want, _ := new(big.Int).SetString(torchLegacyMagic, 16)
	if m, ok := magic.(*big.Int); !ok || m.Cmp(want) != 0 {
		return nil, fmt.Errorf("pickle file without the torch magic number (found %s): not a PyTorch checkpoint", pickleShort(magic))
	}
	proto, err := next("protocol version", nil)
	if err != nil {
		return nil, err
	}
	if p, ok := proto.(int64); !ok || p != torchLegacyProtocol {
		return nil, fmt.Errorf("legacy torch checkpoint: protocol version %s, want %d", pickleShort(proto), torchLegacyProtocol)
	}
	sysInfo, err := next("sys_info", nil)
	if err != nil {
		return nil, err
	}
	if d, ok := sysInfo.(*pickleDict); ok {
		if le, ok := d.get("little_endian"); ok && le == false {
			return nil, errors.New("legacy torch checkpoint written on a big-endian machine is not supported")
		}
	} else {
		return nil, fmt.Errorf("legacy torch checkpoint: sys_info is %s, not a dict", pickleTypeName(sysInfo))
	}
	storages := make(map[string]*torchStorage)
	root, err := next("object", func(pid any) (any, error) {
		return torchPersistent(pid, storages, true)
	})
	if err != nil {
		return nil, err
	}
	keysV, err := next("storage key list", nil)
	if err != nil {
		return nil, err
	}
	keys, ok := keysV.(*pickleList)
	if !ok {
		return nil, fmt.Errorf("legacy torch checkpoint: storage key list is %s, not a list", pickleTypeName(keysV))
	}
	offsets := make(map[*torchStorage]int64, len(keys.items))
	for _, kv := range keys.items {
		key, ok := kv.(string)
		if !ok {
			return nil, fmt.Errorf("legacy torch checkpoint: storage key %s is not a string", pickleShort(kv))
		}
		st := storages[key]
		if st == nil || st.root != nil {
			return nil, fmt.Errorf("legacy torch checkpoint: storage %s in the key list is not used by any tensor", quoteShort(key))
		}
		if _, dup := offsets[st]; dup {
			return nil, fmt.Errorf("legacy torch checkpoint: storage %s listed twice", quoteShort(key))
		}
		head, err := src.bytes(pos, 8)
		if err != nil {
			return nil, fmt.Errorf("legacy torch checkpoint: storage %s: size record: %w", quoteShort(key), err)
		}
		count := int64(binary.LittleEndian.Uint64(head))
		if count != st.numel {
			return nil, fmt.Errorf("legacy torch checkpoint: storage %s: %d elements stored, %d declared", quoteShort(key), count, st.numel)
		}
		nbytes := count * st.dtype.size()
		if nbytes > src.size-pos-8 {
			return nil, fmt.Errorf("legacy torch checkpoint: storage %s: %d bytes run past the end of the file", quoteShort(key), nbytes)
		}
		offsets[st] = pos + 8
		pos += 8 + nbytes
	}
	refs, err := torchStateDict(root)
	if err != nil {
		return nil, fmt.Errorf("legacy torch checkpoint: %w", err)
	}
	load := func(st *torchStorage) ([]byte, error) {
		off, ok := offsets[st]
		if !ok {
			return nil, fmt.Errorf("legacy torch checkpoint: storage %s has no data record", quoteShort(st.key))
		}
		return src.bytes(off, st.numel*st.dtype.size())
	}
	return &torchIndexed{refs: refs, load: load, budget: torchBudget(src.size)}, nil
}
