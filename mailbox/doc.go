// Package mailbox owns helpmail's view of one email: the parsed form of an
// inbound message ([Parse] into a [Message]), the bytes of an outgoing one
// ([Compose] from an [Outgoing]), and the rules that tell automatic mail
// from a person's ([Automatic], [ParseDSN]). It imports no other helpmail
// package; MIME details come from github.com/emersion/go-message and the
// standard library, HTML tokenizing from golang.org/x/net/html.
//
// Invariants:
//
//   - Parse never loses mail. It never returns a nil *Message and never
//     panics; whatever was wrong is listed in Message.Problems (and in the
//     returned error) while every field that could be filled is filled. It
//     never modifies the caller's bytes: storing them raw is the caller's job.
//   - Parse is bounded on hostile input: a header block above
//     [MaxHeaderBytes], multipart nesting deeper than [MaxDepth] and more
//     than [MaxParts] parts are cut short with a problem; recursion follows
//     only multipart nesting, and every scan is linear in the input (header
//     unfolding, encoded-words, boundaries, [HTMLToText]).
//   - Compose never writes a header line that a value could break: a CR, LF
//     or NUL in any header value is refused with [ErrHeaderInjection].
//
// Parsing is done on a copy of the message prepared for the reader: an mbox
// "From " first line is skipped and a message with bare CR line endings only
// is read as if they were LF. Header fields, multipart boundaries,
// parameters (RFC 2231 included) and transfer encodings are read by this
// package's own lenient code rather than go-message's reader, which stops at
// the first malformed header line or corrupt base64 byte and would lose the
// rest of the message; charsets are converted through go-message's charset
// table (message.CharsetReader), with a guess (UTF-8 if valid, else KOI8-R
// or Windows-1251 for Cyrillic-looking text, else Windows-1252) where the
// charset is absent, unknown or wrong.
package mailbox
