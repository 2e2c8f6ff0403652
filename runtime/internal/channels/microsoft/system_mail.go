package microsoft

import "context"

// SendSystemMail sends a mail of the runtime's own from the mailbox; see
// email.Engine.SendSystemMail.
func (a *Adapter) SendSystemMail(ctx context.Context, to, subject, body string) error {
	return a.mail.SendSystemMail(ctx, to, subject, body)
}
