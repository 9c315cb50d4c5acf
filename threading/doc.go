// Package threading decides which ticket an inbound message belongs to
// (SPEC §3) and extracts the new text of a reply.
//
// Everything here is a pure function over plain values: no database, no
// network, no clock, no logging. The desk calls [Matcher.Match] inside its
// delivery transaction and passes the store's answers in as [Lookup]
// functions, so the rule order is table-tested and fuzzed on its own.
//
// What the package owns:
//
//   - Authenticated tokens ([Signer]): the reply token in the +detail of a
//     Reply-To address (support+<token>@domain), the ticket token embedded
//     in every Message-ID helpmail mints, and the VERP bounce token. Each
//     kind is an HMAC-SHA256 under the server secret with its own label, so
//     a token of one kind never verifies as another kind, and no token
//     verifies under another secret.
//   - Message-ID handling: [CanonicalMessageID] and [ReferencedIDs], which
//     turn In-Reply-To and References into canonical ids, nearest ancestor
//     first.
//   - Subjects: [FindTag], [TagSubject] and [BaseSubject].
//   - The rule order: [Matcher.Match] tries a reply token, then references,
//     then a subject tag from a participant, and otherwise opens a new
//     ticket; [Decision.Notes] says why each earlier rule did not apply.
//   - Reply text: [ExtractReply] and [StripSignature].
//
// Invariants:
//
//   - Tokens and the local part of minted Message-IDs use only lower-case
//     letters, digits, '-' and '.', and are parsed case-insensitively,
//     because MTAs and clients change the case of addresses and ids.
//   - A ticket number inside a token is a canonical positive decimal
//     (no sign, no leading zero), so each ticket has exactly one encoding.
//   - Canonical Message-IDs are lower-case, without angle brackets and
//     without whitespace; "" means "no usable id".
//   - ExtractReply and StripSignature return a substring of their input
//     and never rewrite line endings (CRLF, LF and bare CR all work).
package threading
