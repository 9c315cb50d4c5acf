// Package smtpserver receives mail over SMTP (RFC 5321) and hands each
// message to a Deliver function, using github.com/emersion/go-smtp for the
// protocol.
//
// The package owns the listening socket, the SMTP sessions and the mapping
// of Deliver's outcome to SMTP replies. It asks its user for two decisions
// only: Accept (is this recipient one of ours?) and Deliver (store this
// message). Its invariants:
//
//   - Never an open relay: a recipient Accept refuses gets 550 5.1.1 and is
//     never passed to Deliver.
//   - 250 is sent only after Deliver returned nil, so a 250 means the
//     message was committed. Any other Deliver error is a 451 4.3.0 with a
//     fixed text (the cause is logged, never sent); a *mailbox.Rejection is
//     a 554 5.6.0 with its Reason; a panic in Deliver is a 451 and the
//     server keeps serving.
//   - Deliver gets the message bytes exactly as received: SMTP's
//     dot-stuffing is undone, nothing else is changed (no Received header,
//     no line-ending conversion; the CRLF before the final dot belongs to
//     the message, as RFC 5321 section 4.1.1.4 says).
//   - Every reply the package writes itself is an unwrapped *smtp.SMTPError,
//     because go-smtp shows the text of any other error to the client.
//
// Implementation notes. go-smtp's Session has no context: Deliver gets a
// context derived from the server's own (cancelled by Close) with
// DeliverTimeout. Graceful shutdown needs to tell idle connections from
// those in a mail transaction, which go-smtp does not: every accepted
// connection is wrapped (trackedConn) so that, once Shutdown has started,
// a connection that is not inside a transaction times out at its next
// command read, and go-smtp answers it with 421 and closes it. A
// transaction in progress runs to its final reply first.
//
// Lines may be as long as MaxMessageBytes: real mail has lines far longer
// than RFC 5321's 1,000 octets, and to go-smtp a message with bare-CR line
// ends is one line. The memory a connection can hold is bounded by
// MaxMessageBytes either way.
package smtpserver
