// Package imappoller takes mail in from existing IMAP mailboxes (SPEC §2.2).
//
// A Poller watches one mailbox of one Account. It logs in, SELECTs the
// mailbox, hands every message above its checkpoint to Deliver, and only
// after Deliver returned nil (the desk committed the message) applies the
// account's after-action: flag \Seen, move to a folder, or delete. It then
// waits with IDLE when the server offers it, or polls, and reconnects with
// back-off when the connection or the server goes away.
//
// Invariants:
//
//   - Nothing leaves the mailbox before it is committed. A message is
//     flagged, moved or deleted only after Deliver returned nil, or after
//     Refuse returned nil for a refused message (which is then moved to the
//     refused folder, never deleted).
//   - The checkpoint (UIDVALIDITY and the highest UID processed, kept by a
//     Checkpoints implementation under Account.Name and the mailbox name) is
//     saved only after a message's after-action. A crash between the
//     desk's commit and the after-action therefore causes a re-delivery,
//     which the desk deduplicates (same Message-ID or same bytes), never a
//     loss. When UIDVALIDITY changes, the mailbox is scanned again from UID
//     1 for the same reason.
//   - A temporary Deliver error (anything but *mailbox.Rejection) ends the
//     pass at that message: it stays in the mailbox untouched and the
//     checkpoint stays below it, so it is retried after a back-off.
//   - Bodies are fetched with BODY.PEEK[] (no implicit \Seen), one message
//     at a time, into a buffer no larger than Account.MaxMessageBytes; only
//     the UID, size and flags of one batch are held besides it. Messages
//     whose RFC822.SIZE is over the limit are never fetched in full.
//   - The go-imap client has no context: cancellation closes the network
//     connection, which unblocks every pending command. Every goroutine the
//     package starts ends before Run or Poll returns.
package imappoller
