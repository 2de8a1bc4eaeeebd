package main

import (
	"context"
	"fmt"

	"github.com/vkdeit/vkdeit/loader/hub"
)

const downloadSynopsis = `download REPO[@REVISION]

Fills the Hugging Face cache with a model's config.json,
preprocessor_config.json and weights (model.safetensors, else
pytorch_model.bin), in the layout huggingface_hub uses, and prints the snapshot
directory. Files already in the cache are not downloaded again. The cache is
$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; the server is
$HF_ENDPOINT (default https://huggingface.co); $HF_TOKEN is sent when set.`

const downloadExamples = `  vkdeit download facebook/deit-small-distilled-patch16-224
  vkdeit download facebook/deit-tiny-patch16-224@main
  HF_HOME=/data/hf vkdeit download facebook/deit-base-distilled-patch16-384
`

func runDownload(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "download", downloadSynopsis, downloadExamples)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("download: want one model repo id, got %d arguments (run \"vkdeit download --help\")", fs.NArg())
	}
	repo := fs.Arg(0)
	if !hub.IsRepoID(repo) {
		return usagef("download: %q is not a hub repo id (ORG/NAME[@REVISION])", repo)
	}
	h := hub.FromEnv()
	var done func()
	h.Progress, done = downloadProgress(e, false)
	defer done()
	files, err := h.Snapshot(ctx, repo)
	if err != nil {
		return fmt.Errorf("download %s: %w", repo, err)
	}
	fmt.Fprintln(e.stdout, files.Dir)
	return nil
}
