package web

import (
	"io"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

func (s *Server) conversationReply(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	files, err := formFiles(r, "files")
	if err != nil {
		return err
	}
	if _, err := s.Inbox.ReplyWithFiles(r.Context(), currentUser(r).ID, id, r.PostFormValue("body"), files); err != nil {
		return composerError(err, "reply")
	}
	return s.afterWrite(w, r, id)
}

// formFiles reads the files of a multipart form's field (the body limit of
// the route bounds them; the channel's limits are checked by the inbox).
// A file input left empty sends one part without a name or bytes: skipped.
func formFiles(r *http.Request, field string) ([]inbox.File, error) {
	if r.MultipartForm == nil {
		return nil, nil
	}
	var out []inbox.File
	for _, fh := range r.MultipartForm.File[field] {
		if fh.Filename == "" && fh.Size == 0 {
			continue
		}
		f, err := fh.Open()
		if err != nil {
			return nil, fieldError(field, "the file %q could not be read", fh.Filename)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fieldError(field, "the file %q could not be read", fh.Filename)
		}
		out = append(out, inbox.File{Filename: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data})
	}
	return out, nil
}
