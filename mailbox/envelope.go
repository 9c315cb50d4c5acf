package mailbox

import "fmt"

// Envelope is what the transport knew about a message besides its bytes.
// Every way in (SMTP server, IMAP poller, pipe, import) fills one and hands
// it to the same Deliver function together with the raw message.
type Envelope struct {
	// Source names the way the message came in: "smtp", "imap", "pipe" or
	// "import". It is recorded with the message and used in logs and metrics.
	Source string
	// MailFrom is the SMTP reverse-path without angle brackets. Empty with
	// NullSender false means the transport did not know it (IMAP, a pipe
	// without -f): the Return-Path header is then the best evidence.
	MailFrom string
	// NullSender is true when the reverse-path was empty (MAIL FROM:<>), as
	// for bounces and most other automatic mail.
	NullSender bool
	// Rcpt are the envelope recipients as given: the RCPT TO addresses, the
	// IMAP account's address, or the pipe's recipient argument. May be empty.
	Rcpt []string
	// RemoteAddr is the peer's network address for network sources.
	RemoteAddr string
	// Account names the IMAP account and mailbox ("support@example.com/INBOX")
	// a message was fetched from; empty for other sources.
	Account string
}

// Rejection is an error a Deliver function returns when retrying the same
// message can never succeed. Transports report it as a permanent failure
// (SMTP 554, sysexits 65) with Reason as the text the sender sees, so Reason
// must be safe to show: no internals, no secrets. Any other error is taken
// as temporary (SMTP 451, sysexits 75): the sender keeps the message and
// tries again.
type Rejection struct {
	// Reason is a short sentence for the sender, e.g. "message has no body".
	Reason string
}

// Error returns the reason, prefixed with the package name.
func (r *Rejection) Error() string { return fmt.Sprintf("mailbox: rejected: %s", r.Reason) }
