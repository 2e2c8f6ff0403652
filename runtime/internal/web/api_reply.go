package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// replyRequest is the body of POST /api/v1/conversations/{id}/replies: the
// text, and files in base64 where the channel sends them (within its
// limits, inbox.AttachmentSender). The whole body is bounded by
// MaxRequestBody, about 9 MiB of files.
type replyRequest struct {
	Text        string              `json:"text"`
	Attachments []InboundAttachment `json:"attachments"`
}

func (s *Server) apiReply(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b replyRequest
	if err := readJSON(w, r, MaxRequestBody, &b); err != nil {
		return err
	}
	files := make([]inbox.File, 0, len(b.Attachments))
	for i, a := range b.Attachments {
		data, err := a.decode(i)
		if err != nil {
			return err
		}
		if a.Filename == "" {
			return badRequest("attachments[%d].filename: required", i)
		}
		files = append(files, inbox.File{Filename: a.Filename, ContentType: a.ContentType, Data: data})
	}
	m, err := s.Inbox.ReplyWithFiles(r.Context(), currentUser(r).ID, id, b.Text, files)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message": m})
	return nil
}
