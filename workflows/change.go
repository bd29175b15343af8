package workflows

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/pipelines"
)

// ErrChangeIDTaken is returned by StartRelease when the change id already
// names a release of different content (another version, image, kind or
// config). The error matches it with errors.Is and reads as one sentence
// naming the release and what differs: "change id c2 is already
// release/api/c2 (version v2); this request is version v3".
var ErrChangeIDTaken = errors.New("change id names another change")

// changeDiff lists, as "field value" pairs, the fields in which two changes
// with one id differ: kind, version, image and config (compared as JSON
// documents, shown by digest). Trigger and who are not part of what a change
// is: the same change triggered by CI and by an operator is one release.
func changeDiff(had, want Change) (was, is []string) {
	add := func(field, a, b string) {
		if a != b {
			was, is = append(was, field+" "+orNone(a)), append(is, field+" "+orNone(b))
		}
	}
	add("kind", string(had.Kind), string(want.Kind))
	add("version", had.Version, want.Version)
	add("image", had.Image, want.Image)
	add("config", configDigest(had.Config), configDigest(want.Config))
	return was, is
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ConfigChange is the config change that releases cfg, a service's
// resolved config (placement.Service.Config after CUE defaults): Config is
// its JSON document, keys sorted, and Version is pipelines.ConfigVersion:
// "cfg-" and the first 12 hex digits of the document's SHA-256 (the version
// `meridian diff` shows On merge; a refused change id shows the same digits
// as "config sha256:…", see configDigest), so that the same content always
// has the same version. The caller
// sets ID, Trigger and Who. A service without config (nil or empty) has no
// config change: an error.
func ConfigChange(cfg map[string]any) (Change, error) {
	if len(cfg) == 0 {
		return Change{}, errors.New("no config")
	}
	doc, err := json.Marshal(cfg)
	if err != nil {
		return Change{}, fmt.Errorf("config document: %w", err)
	}
	return Change{Kind: KindConfig, Version: pipelines.ConfigVersion(cfg), Config: doc}, nil
}

// configDigest is a short digest of a config document, the same for
// documents that differ only in spacing and key order; "" for none.
func configDigest(doc json.RawMessage) string {
	if len(bytes.TrimSpace(doc)) == 0 || string(bytes.TrimSpace(doc)) == "null" {
		return ""
	}
	canonical := []byte(doc)
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // keep numbers exact
	var v any
	if dec.Decode(&v) == nil {
		if b, err := json.Marshal(v); err == nil { // map keys come out sorted
			canonical = b
		}
	}
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// checkSameChange refuses to attach req to the release ref, which the lock
// named for req's change id, when that release was started for a different
// change. A release's input never changes, so reading it after the lock
// answered is race-free.
func checkSameChange(ctx context.Context, c client.Client, ref ReleaseRef, req ReleaseRequest) error {
	had, err := startedChange(ctx, c, ref)
	if err != nil {
		return fmt.Errorf("start release of %s: reading %s: %w", req.Service, ref.ID, err)
	}
	was, is := changeDiff(had, req.Change)
	if len(was) == 0 {
		return nil
	}
	return refusal{fmt.Sprintf("change id %s is already %s (%s); this request is %s",
		req.Change.ID, ref.ID, strings.Join(was, ", "), strings.Join(is, ", ")), ErrChangeIDTaken}
}

// startedChange is the change a release workflow was started with, from
// its first history event. Releases never continue as new, so that event
// holds the ReleaseRequest.
func startedChange(ctx context.Context, c client.Client, ref ReleaseRef) (Change, error) {
	var req ReleaseRequest
	err := startInput(ctx, c, ref.ID, ref.RunID, &req)
	return req.Change, err
}
