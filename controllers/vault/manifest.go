package vault

import (
	"context"
	"errors"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// UpdateManifest changes the workspace's integrations manifest (see
// runtime/contract: the runtime learns its Integrations from it) with
// check-and-set, retrying a lost race: two Integrations of one workspace
// may be reconciled at once. change reports whether it changed anything;
// nothing is written otherwise. owner is the Workspace UID the entry is
// marked with.
func (c *Client) UpdateManifest(ctx context.Context, subtree, owner string, change func(m *contract.ChannelManifest) bool) error {
	path := subtree + "/" + contract.EntryChannels
	for attempt := 0; ; attempt++ {
		have, err := c.ReadKV(ctx, path)
		if err != nil {
			return err
		}
		cas, raw := 0, ""
		if have != nil {
			cas, raw = have.Version, have.Data[contract.ChannelManifestKey]
		} else if v, err := c.currentVersion(ctx, path); err != nil {
			return err
		} else {
			cas = v // a deleted or destroyed latest version still counts
		}
		m, err := contract.DecodeManifest(raw)
		if err != nil {
			m = contract.ChannelManifest{Integrations: map[string]contract.ChannelInfo{}} // rewritten whole
		}
		if !change(&m) && err == nil {
			return nil
		}
		_, err = c.api.KVv2(c.cfg.KVMount).Put(ctx, path, map[string]any{contract.ChannelManifestKey: contract.EncodeManifest(m)},
			vaultapi.WithCheckAndSet(cas))
		if err != nil && isCASFailure(err) && attempt < 10 {
			continue
		}
		if err != nil {
			return c.classify("writing "+c.cfg.KVMount+"/"+path, err)
		}
		c.onWrite(c.cfg.KVMount + "/data/" + path)
		if have == nil || have.Owner != owner {
			if _, err := c.write(ctx, c.cfg.KVMount+"/metadata/"+path, map[string]any{
				"custom_metadata": map[string]string{ownerKey: owner},
			}); err != nil {
				return err
			}
		}
		return nil
	}
}

// ManifestEntry returns an Integration's entry in the workspace's
// manifest, or nil when it has none (or the manifest cannot be read as one).
func (c *Client) ManifestEntry(ctx context.Context, subtree, name string) (*contract.ChannelInfo, error) {
	have, err := c.ReadKV(ctx, subtree+"/"+contract.EntryChannels)
	if err != nil || have == nil {
		return nil, err
	}
	m, err := contract.DecodeManifest(have.Data[contract.ChannelManifestKey])
	if err != nil {
		return nil, nil
	}
	info, ok := m.Integrations[name]
	if !ok {
		return nil, nil
	}
	return &info, nil
}

// currentVersion is an entry's latest version number, 0 if it has none.
func (c *Client) currentVersion(ctx context.Context, path string) (int, error) {
	md, err := c.api.KVv2(c.cfg.KVMount).GetMetadata(ctx, path)
	if err != nil {
		if errors.Is(err, vaultapi.ErrSecretNotFound) || isNotFound(err) {
			return 0, nil
		}
		return 0, c.classify("reading "+c.cfg.KVMount+"/metadata/"+path, err)
	}
	if md == nil {
		return 0, nil
	}
	return md.CurrentVersion, nil
}

func isCASFailure(err error) bool {
	var re *vaultapi.ResponseError
	return errors.As(err, &re) && re.StatusCode == 400 && strings.Contains(strings.Join(re.Errors, " "), "check-and-set")
}
