package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// ResolveModel finds the files of the model named by arg:
//
//   - an existing path: modeldir.Find's directory or weights file;
//   - otherwise a Hub repo id ("org/name[@revision]"), resolved by
//     h.Snapshot (h nil means FromEnv()).
//
// An existing path always wins over a repo id of the same spelling; "" means
// DefaultModel.
func ResolveModel(ctx context.Context, arg string, h *Client) (modeldir.Files, error) {
	if arg == "" {
		arg = DefaultModel
	}
	if _, err := os.Stat(arg); !errors.Is(err, os.ErrNotExist) {
		files, err := modeldir.Find(arg)
		if err != nil {
			return modeldir.Files{}, fmt.Errorf("hub: %w", err)
		}
		return files, nil
	}
	if !IsRepoID(arg) {
		if _, rev, ok := strings.Cut(arg, "@"); ok && !validRevision(rev) {
			return modeldir.Files{}, fmt.Errorf("hub: model %s: no such file or directory, and %q is not a valid revision", arg, rev)
		}
		return modeldir.Files{}, fmt.Errorf("hub: model %s: no such file or directory, and not a Hugging Face repo id (org/name or org/name@revision)", arg)
	}
	if h == nil {
		h = FromEnv()
	}
	files, err := h.Snapshot(ctx, arg)
	if err != nil {
		// A mistyped local path ("models/nonexistent") has a repo id's
		// form: say that it was tried as one, as transformers does.
		return modeldir.Files{}, fmt.Errorf("%s: not a local file or directory; tried as a Hugging Face repo id: %w", arg, err)
	}
	return files, nil
}
