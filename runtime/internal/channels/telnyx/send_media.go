package telnyx

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// An MMS carries up to 10 files, which Telnyx fetches from URLs; carriers
// cap a whole MMS near 1 MB, so the files are held to 1 MiB in all.
const (
	MaxMMSFiles = 10
	MaxMMSBytes = 1 << 20
	// MediaLinkTTL is how long the links Telnyx fetches the files from
	// stay valid: Telnyx fetches them as it accepts the message.
	MediaLinkTTL = time.Hour
)

// mmsTypes are the files an MMS carries well across US carriers.
var mmsTypes = []string{"image/jpeg", "image/png", "image/gif", "video/mp4", "video/3gpp", "audio/mpeg", "audio/amr", "audio/mp4",
	"text/vcard", "text/x-vcard", "application/pdf"}

var _ inbox.AttachmentChecker = (*Adapter)(nil)

// AttachmentLimits: files make the reply an MMS (inbox.AttachmentSender).
func (a *Adapter) AttachmentLimits() (int, int64) { return MaxMMSFiles, MaxMMSBytes }

// CheckAttachments holds an MMS's files to the types carriers take.
func (a *Adapter) CheckAttachments(_ string, files []*store.Attachment) error {
	for _, f := range files {
		if !slices.Contains(mmsTypes, f.ContentType) {
			return fmt.Errorf("%w: MMS does not carry %s files (%s); it carries JPEG, PNG and GIF images, MP4 and 3GPP videos, MP3, AMR and MP4 audio, vCards and PDFs",
				inbox.ErrAttachments, f.ContentType, f.Filename)
		}
	}
	return nil
}

// mediaURLs makes a link Telnyx can fetch for each of a reply's files,
// under the workspace's public URL; none without files.
func (a *Adapter) mediaURLs(ctx context.Context, out inbox.Outbound) ([]string, error) {
	files, err := out.LoadFiles(ctx, a.d.Store)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	base := strings.TrimRight(a.d.PublicURL, "/")
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, adapter.Permanent(errors.New("the workspace has no public URL for Telnyx to fetch the MMS's files from"))
	}
	ids := make([]int64, len(files))
	for i, f := range files {
		ids[i] = f.ID
	}
	tokens, err := a.d.Store.CreateMediaLinks(ctx, ids, MediaLinkTTL)
	if err != nil {
		return nil, err
	}
	urls := make([]string, len(tokens))
	for i, t := range tokens {
		urls[i] = base + "/media/" + t
	}
	return urls, nil
}

// redactMediaLinks replaces each of urls in s by its path without the
// token.
func redactMediaLinks(s string, urls []string) string {
	for _, u := range urls {
		s = strings.ReplaceAll(s, u, u[:strings.LastIndexByte(u, '/')+1]+"[redacted]")
	}
	return s
}
