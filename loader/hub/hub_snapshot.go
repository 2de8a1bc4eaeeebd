package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// Snapshot returns the files of the Hub model repo ("org/name" or
// "org/name@revision", revision "main" by default; a branch, a tag, a 40-hex
// commit or a PR ref such as refs/pr/1).
//
// When the cache already holds config.json and a weights file for the
// commit that refs/<revision> names (or for the commit given), they are used
// without any network access, even if the branch has moved on since; pass
// "@<commit>" to pin another one. Otherwise the missing files are downloaded:
// config.json (required), preprocessor_config.json (optional), then
// model.safetensors, or pytorch_model.bin when the repo has no safetensors.
// With h.Offline only the cache is consulted and the error says which file
// is missing and how to get it.
func (h *Client) Snapshot(ctx context.Context, repoID string) (modeldir.Files, error) {
	repo, rev, err := parseRepoID(repoID)
	if err != nil {
		return modeldir.Files{}, err
	}
	s := &snapshot{h: h, id: repoID, repo: repo, rev: rev, rc: newRepoCache(h.cacheDir(), repo)}
	if isCommitHash(rev) {
		s.commit = rev
	} else if s.commit, err = s.rc.readRef(rev); err != nil {
		return modeldir.Files{}, err
	}
	if s.commit != "" {
		mf, ok, err := s.cached()
		if err != nil {
			return modeldir.Files{}, err
		}
		if ok {
			return s.completeOptional(ctx, mf)
		}
	}
	if h.Offline {
		return modeldir.Files{}, s.offlineError()
	}
	return s.download(ctx)
}

// snapshot is the state of one Snapshot call.
type snapshot struct {
	h      *Client
	id     string // as the user wrote it, for messages
	repo   string
	rev    string
	commit string // "" until known
	rc     repoCache
}

// cached returns the files present in the snapshot of s.commit and whether
// they suffice (config.json and a weights file). An entry that is not a
// regular file is an error.
func (s *snapshot) cached() (modeldir.Files, bool, error) {
	mf := modeldir.Files{Dir: s.rc.snapshotDir(s.commit)}
	for _, f := range []struct {
		name string
		dst  *string
	}{{modeldir.ConfigFile, &mf.Config}, {modeldir.PreprocessorFile, &mf.Preprocessor}} {
		p, ok, err := s.rc.snapshotFile(s.commit, f.name)
		if err != nil {
			return modeldir.Files{}, false, err
		}
		if ok {
			*f.dst = p
		}
	}
	for _, w := range modeldir.WeightFiles {
		p, ok, err := s.rc.snapshotFile(s.commit, w)
		if err != nil {
			return modeldir.Files{}, false, err
		}
		if ok {
			mf.Weights = p
			break
		}
	}
	return mf, mf.Config != "" && mf.Weights != "", nil
}

// completeOptional fetches preprocessor_config.json for a cached model that
// lacks it (transformers' from_pretrained alone does not fetch it) unless the
// cache records it as absent or we are offline. A connection failure leaves
// the model usable with the default preprocessing, as huggingface_hub falls
// back to the cache when the Hub cannot be reached.
func (s *snapshot) completeOptional(ctx context.Context, mf modeldir.Files) (modeldir.Files, error) {
	if mf.Preprocessor != "" || s.h.Offline || s.rc.knownMissing(s.commit, modeldir.PreprocessorFile) {
		return mf, nil
	}
	p, err := s.fetch(ctx, modeldir.PreprocessorFile)
	var he *hubError
	switch {
	case err == nil:
		mf.Preprocessor = p
	case isEntryNotFound(err) || (!errors.As(err, &he) && ctx.Err() == nil):
		// absent from the repo, or the Hub is unreachable: the defaults apply
	default:
		return modeldir.Files{}, err
	}
	return mf, nil
}

// download fetches config.json, the optional preprocessor config and the
// weights into the cache.
func (s *snapshot) download(ctx context.Context) (modeldir.Files, error) {
	var mf modeldir.Files
	p, err := s.fetch(ctx, modeldir.ConfigFile)
	if isEntryNotFound(err) {
		return mf, fmt.Errorf("%w; the repository %s or its revision %q does not exist, or it is not a transformers model",
			err, s.repo, s.rev)
	}
	if err != nil {
		return mf, err
	}
	mf.Config = p
	mf.Dir = s.rc.snapshotDir(s.commit)
	if mf.Preprocessor, err = s.fetch(ctx, modeldir.PreprocessorFile); err != nil && !isEntryNotFound(err) {
		return modeldir.Files{}, err
	}
	for _, w := range modeldir.WeightFiles {
		p, err := s.fetch(ctx, w)
		if isEntryNotFound(err) {
			continue
		}
		if err != nil {
			return modeldir.Files{}, err
		}
		mf.Weights = p
		return mf, nil
	}
	return modeldir.Files{}, fmt.Errorf("hub: %s at revision %q (commit %s) has neither %s; vkdeit needs one of them",
		s.repo, s.rev, s.commit, strings.Join(modeldir.WeightFiles, " nor "))
}

// fetch returns the snapshot path of file, downloading it when it is not
// cached. A file known to be absent, or found absent now, yields an error
// for which isEntryNotFound is true; the absence is recorded in .no_exist/.
func (s *snapshot) fetch(ctx context.Context, file string) (string, error) {
	if s.commit != "" {
		if p, ok, err := s.rc.snapshotFile(s.commit, file); ok || err != nil {
			return p, err
		}
		if s.rc.knownMissing(s.commit, file) {
			return "", &hubError{status: 404, code: "EntryNotFound", msg: "recorded as absent in the cache",
				url: s.rc.noExistPath(s.commit, file), repo: s.repo, rev: s.commit, file: file}
		}
	}
	rev := s.rev
	if s.commit != "" {
		rev = s.commit // every file from the same commit, even if the branch moves meanwhile
	}
	m, err := s.h.head(ctx, s.repo, rev, file)
	var he *hubError
	if err != nil && !errors.As(err, &he) && ctx.Err() == nil {
		err = fmt.Errorf("%w (%s)", err, s.unreachable())
	}
	if err != nil {
		if isEntryNotFound(err) && s.commit != "" {
			if merr := s.rc.markMissing(s.commit, file); merr != nil {
				return "", merr
			}
		}
		return "", err
	}
	url := s.h.fileURL(s.repo, rev, file)
	if s.commit == "" {
		if !isCommitHash(m.commit) {
			return "", fmt.Errorf("hub: %s: the server sent no commit hash (X-Repo-Commit %s); is HF_ENDPOINT (%s) a Hugging Face Hub?",
				url, quoteShort(m.commit), s.h.endpoint())
		}
		s.commit = m.commit
		if err := s.rc.writeRef(s.rev, s.commit); err != nil {
			return "", err
		}
		if p, ok, err := s.rc.snapshotFile(s.commit, file); ok || err != nil {
			return p, err
		}
	}
	if !validEtag(m.etag) {
		return "", fmt.Errorf("hub: %s: the server sent no usable ETag (%s)", url, quoteShort(m.etag))
	}
	t := hubTarget{repo: s.repo, rev: rev, file: file}
	if err := s.h.downloadBlob(ctx, s.rc, t, m); err != nil {
		return "", err
	}
	return s.rc.linkSnapshot(s.commit, file, m.etag)
}

// unreachable explains what to do when the Hub cannot be reached and the
// cache lacks the model: the remedies huggingface_hub users know — a proxy,
// a mirror, a cache copied from a connected machine — and HF_HUB_OFFLINE,
// which then keeps every later run off the network.
func (s *snapshot) unreachable() string {
	return fmt.Sprintf("cannot reach the Hub at %s; behind a proxy set HTTPS_PROXY, for a mirror HF_ENDPOINT, "+
		"or copy a Hugging Face cache holding %s (`vkdeit download` fills one on a connected machine) to %s and set HF_HUB_OFFLINE=1",
		s.h.endpoint(), s.id, s.h.cacheDir())
}

// offlineError explains what the cache lacks for s and how to fill it.
func (s *snapshot) offlineError() error {
	how := fmt.Sprintf("run `vkdeit download %s` on a connected machine and copy %s here, or unset HF_HUB_OFFLINE",
		s.id, s.rc.root)
	if s.commit == "" {
		return fmt.Errorf("hub: %s is not in the Hugging Face cache (no %s) and HF_HUB_OFFLINE is set; %s",
			s.id, s.rc.refPath(s.rev), how)
	}
	mf, _, err := s.cached()
	if err != nil {
		return err
	}
	var missing []string
	if mf.Config == "" {
		missing = append(missing, modeldir.ConfigFile)
	}
	if mf.Weights == "" {
		var ws []string
		for _, w := range modeldir.WeightFiles {
			if !s.rc.knownMissing(s.commit, w) {
				ws = append(ws, w)
			}
		}
		if len(ws) == 0 {
			ws = []string{"a weights file (the cache records that the repo has neither " + strings.Join(modeldir.WeightFiles, " nor ") + ")"}
		}
		missing = append(missing, strings.Join(ws, " or "))
	}
	return fmt.Errorf("hub: %s: %s missing from the cache %s and HF_HUB_OFFLINE is set; %s",
		s.id, strings.Join(missing, " and "), s.rc.snapshotDir(s.commit), how)
}
