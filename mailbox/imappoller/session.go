package imappoller

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/helpmail/helpmail/mailbox"
)

const (
	dialTimeout = 30 * time.Second
	// keepAlive lets the kernel notice a server that vanished without
	// closing the connection (the client waits for responses without a
	// deadline, e.g. during IDLE).
	keepAlive = 30 * time.Second
	// maxHeaderBytes bounds the header fetched for a refused oversized
	// message.
	maxHeaderBytes = 1 << 20
)

// session is one logged-in connection with the mailbox selected.
type session struct {
	p           *Poller
	cfg         settings
	log         *slog.Logger
	conn        net.Conn
	c           *imapclient.Client // nil until the connection is set up
	caps        imap.CapSet        // as listed after LOGIN
	uidValidity uint32
	newMail     chan struct{} // gets a value (never blocking) when the server reports EXISTS
	stopWatch   func() bool   // stops closing conn when ctx is done
}

// connect dials, logs in and selects the mailbox. The returned session must
// be closed.
func (p *Poller) connect(ctx context.Context, cfg settings, log *slog.Logger) (*session, error) {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	conn, err := d.DialContext(ctx, "tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", cfg.addr, err)
	}
	s := &session{
		p:       p,
		cfg:     cfg,
		log:     log,
		conn:    conn,
		newMail: make(chan struct{}, 1),
		// The client has no context: closing its connection is what
		// unblocks it when ctx is cancelled.
		stopWatch: context.AfterFunc(ctx, func() { conn.Close() }),
	}
	if err := s.open(ctx); err != nil {
		s.close()
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return nil, err
	}
	return s, nil
}

func (s *session) open(ctx context.Context) error {
	opts := &imapclient.Options{
		TLSConfig: s.cfg.tlsConfig,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs in the client's reader goroutine: must not block.
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case s.newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	switch s.cfg.security {
	case "tls":
		tc := s.cfg.tlsConfig.Clone()
		if tc.NextProtos == nil {
			tc.NextProtos = []string{"imap"}
		}
		conn := tls.Client(s.conn, tc)
		if err := conn.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake with %s: %w", s.cfg.addr, err)
		}
		s.c = imapclient.New(conn, opts)
	case "starttls":
		c, err := imapclient.NewStartTLS(s.conn, opts)
		if err != nil {
			return fmt.Errorf("starttls with %s: %w", s.cfg.addr, err)
		}
		s.c = c
	default:
		s.c = imapclient.New(s.conn, opts)
	}
	if err := s.c.WaitGreeting(); err != nil {
		return fmt.Errorf("greeting from %s: %w", s.cfg.addr, err)
	}
	user := s.p.Account.Username
	if err := s.c.Login(user, s.p.Account.Password).Wait(); err != nil {
		return fmt.Errorf("login as %q: %w", user, err)
	}
	// Servers list IDLE, MOVE and UIDPLUS only after authentication
	// (Dovecot does), so ask again now.
	caps, err := s.c.Capability().Wait()
	if err != nil {
		return fmt.Errorf("capability: %w", err)
	}
	s.caps = caps
	sel, err := s.c.Select(s.cfg.mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("select %q: %w", s.cfg.mailbox, err)
	}
	if sel.UIDValidity == 0 {
		return fmt.Errorf("select %q: server sent no UIDVALIDITY", s.cfg.mailbox)
	}
	s.uidValidity = sel.UIDValidity
	s.log.Info("imap connected", "addr", s.cfg.addr, "security", s.cfg.security,
		"idle", caps.Has(imap.CapIdle), "move", caps.Has(imap.CapMove), "uidplus", caps.Has(imap.CapUIDPlus),
		"uidvalidity", sel.UIDValidity, "messages", sel.NumMessages)
	return nil
}

// close closes the connection and waits for the client's goroutines.
func (s *session) close() {
	s.stopWatch()
	if s.c != nil {
		s.c.Close() // also closes s.conn; its error says nothing useful
		return
	}
	s.conn.Close()
}

// message is what one batch FETCH learns about a message.
type message struct {
	uid  uint32
	size int64
	seen bool
}

// pass processes every message above the checkpoint, in ascending UID
// order, and returns how many it took (delivered, or refused and moved).
func (s *session) pass(ctx context.Context) (int, error) {
	name, mbox := s.p.Account.Name, s.cfg.mailbox
	savedValidity, savedLast, err := s.p.Checkpoints.LoadCheckpoint(ctx, name, mbox)
	if err != nil {
		return 0, fmt.Errorf("load checkpoint: %w", err)
	}
	last := savedLast
	if savedValidity != 0 && savedValidity != s.uidValidity {
		// The server renumbered the mailbox: the saved UID means nothing
		// now. Scan it all again; the desk dedupes what it already has.
		s.log.Warn("UIDVALIDITY changed; scanning the mailbox again from UID 1",
			"old_uidvalidity", savedValidity, "uidvalidity", s.uidValidity, "old_last_uid", savedLast)
		last = 0
	}
	// First pass with InitialScan "unseen": skip \Seen messages, and save
	// the checkpoint only once the pass is complete (see Account.InitialScan).
	skipSeen := savedValidity == 0 && !s.cfg.initialAll
	save := func(uid uint32) error {
		if err := s.p.Checkpoints.SaveCheckpoint(ctx, name, mbox, s.uidValidity, uid); err != nil {
			return fmt.Errorf("save checkpoint uid %d: %w", uid, err)
		}
		return nil
	}

	uids, err := s.uidsAfter(last)
	if err != nil {
		return 0, err
	}
	n := 0
	for len(uids) > 0 {
		batch := uids[:min(len(uids), s.cfg.batch)]
		uids = uids[len(batch):]
		msgs, err := s.fetchMeta(batch)
		if err != nil {
			return n, err
		}
		for _, m := range msgs {
			if skipSeen && m.seen {
				s.log.Debug("left alone: already seen before the first scan", "uid", m.uid)
			} else {
				took, err := s.take(ctx, m)
				if err != nil {
					return n, err
				}
				if took {
					n++
				}
			}
			last = m.uid
			if !skipSeen {
				if err := save(last); err != nil {
					return n, err
				}
			}
		}
	}
	if s.uidValidity != savedValidity || last != savedLast {
		if err := save(last); err != nil {
			return n, err
		}
	}
	s.log.Debug("pass complete", "taken", n, "last_uid", last)
	return n, nil
}

// uidsAfter lists the UIDs above last, ascending.
func (s *session) uidsAfter(last uint32) ([]uint32, error) {
	set := imap.UIDSet{{Start: imap.UID(last + 1), Stop: 0}} // last+1:*
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search uid %d:*: %w", last+1, err)
	}
	var uids []uint32
	for _, uid := range data.AllUIDs() {
		// "n:*" also matches the highest UID when it is below n.
		if uint32(uid) > last {
			uids = append(uids, uint32(uid))
		}
	}
	slices.Sort(uids)
	return uids, nil
}

// fetchMeta fetches UID, RFC822.SIZE and FLAGS of a batch. Messages
// expunged meanwhile are missing from the result.
func (s *session) fetchMeta(batch []uint32) ([]message, error) {
	var set imap.UIDSet
	for _, uid := range batch {
		set.AddNum(imap.UID(uid))
	}
	bufs, err := s.c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch flags and sizes of uid %s: %w", set, err)
	}
	msgs := make([]message, 0, len(bufs))
	for _, b := range bufs {
		if b.UID == 0 {
			continue
		}
		seen := slices.ContainsFunc(b.Flags, func(f imap.Flag) bool { return strings.EqualFold(string(f), string(imap.FlagSeen)) })
		msgs = append(msgs, message{uid: uint32(b.UID), size: b.RFC822Size, seen: seen})
	}
	slices.SortFunc(msgs, func(a, b message) int { return cmp.Compare(a.uid, b.uid) })
	return msgs, nil
}

// take delivers one message and applies the after-action, or refuses it.
// took is false when the message vanished before it could be fetched.
func (s *session) take(ctx context.Context, m message) (took bool, err error) {
	if m.size > s.cfg.maxBytes {
		return s.refuseTooBig(ctx, m.uid, m.size)
	}
	raw, size, found, err := s.fetchBody(m.uid)
	switch {
	case err != nil:
		return false, err
	case !found:
		s.log.Warn("message vanished before it could be fetched", "uid", m.uid)
		return false, nil
	case size > s.cfg.maxBytes: // RFC822.SIZE understated it
		return s.refuseTooBig(ctx, m.uid, size)
	}
	header := headerOf(raw)
	env := s.envelope(header)
	err = s.p.Deliver(ctx, env, raw)
	var rej *mailbox.Rejection
	switch {
	case err == nil:
		if err := s.after(m.uid); err != nil {
			return false, fmt.Errorf("after-action on uid %d: %w", m.uid, err)
		}
		s.log.Debug("delivered", "uid", m.uid, "bytes", len(raw))
		return true, nil
	case errors.As(err, &rej):
		return true, s.refuse(ctx, m.uid, env, header, size, rej.Reason)
	default:
		return false, fmt.Errorf("deliver uid %d: %w", m.uid, err)
	}
}

func (s *session) refuseTooBig(ctx context.Context, uid uint32, size int64) (took bool, err error) {
	header, found, err := s.fetchHeader(uid)
	if err != nil || !found {
		return false, err
	}
	reason := fmt.Sprintf("the message is %d bytes, more than the %d bytes this address accepts", size, s.cfg.maxBytes)
	return true, s.refuse(ctx, uid, s.envelope(header), header, size, reason)
}

// refuse tells the sender (through Refuse), then moves the message to the
// refused folder.
func (s *session) refuse(ctx context.Context, uid uint32, env mailbox.Envelope, header []byte, size int64, reason string) error {
	s.log.Warn("refusing message", "uid", uid, "bytes", size, "reason", reason, "folder", s.cfg.refused)
	if s.p.Refuse != nil {
		if err := s.p.Refuse(ctx, env, header, size, reason); err != nil {
			return fmt.Errorf("refuse uid %d: %w", uid, err)
		}
	}
	if err := s.move(uid, s.cfg.refused); err != nil {
		return fmt.Errorf("move uid %d to %q: %w", uid, s.cfg.refused, err)
	}
	return nil
}

// fetchBody fetches a whole message with BODY.PEEK[] (which leaves \Seen
// alone). found is false when the server returned no such message. A body
// over the size limit is not read (raw is nil, size says how big it is).
func (s *session) fetchBody(uid uint32) (raw []byte, size int64, found bool, err error) {
	cmd := s.c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	defer cmd.Close()
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			body, ok := item.(imapclient.FetchItemDataBodySection)
			if !ok || body.Literal == nil {
				continue
			}
			found, size = true, body.Literal.Size()
			if size > s.cfg.maxBytes {
				continue // the client discards the unread literal
			}
			raw = make([]byte, size)
			if _, err := io.ReadFull(body.Literal, raw); err != nil {
				return nil, 0, false, fmt.Errorf("read body of uid %d: %w", uid, err)
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, 0, false, fmt.Errorf("fetch body of uid %d: %w", uid, err)
	}
	if size > s.cfg.maxBytes {
		raw = nil
	}
	return raw, size, found, nil
}

// fetchHeader fetches a message's header with BODY.PEEK[HEADER], at most
// maxHeaderBytes of it.
func (s *session) fetchHeader(uid uint32) (header []byte, found bool, err error) {
	cmd := s.c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
	})
	defer cmd.Close()
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			body, ok := item.(imapclient.FetchItemDataBodySection)
			if !ok || body.Literal == nil {
				continue
			}
			header, err = io.ReadAll(io.LimitReader(body.Literal, maxHeaderBytes))
			if err != nil {
				return nil, false, fmt.Errorf("read header of uid %d: %w", uid, err)
			}
			found = true
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, false, fmt.Errorf("fetch header of uid %d: %w", uid, err)
	}
	return header, found, nil
}

// after applies the account's after-action to a committed message.
func (s *session) after(uid uint32) error {
	switch {
	case s.cfg.afterMove != "":
		return s.move(uid, s.cfg.afterMove)
	case s.cfg.afterDelete:
		return s.expunge(uid)
	default:
		return s.addFlag(uid, imap.FlagSeen)
	}
}

func (s *session) addFlag(uid uint32, flag imap.Flag) error {
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{flag}}
	if err := s.c.Store(imap.UIDSetNum(imap.UID(uid)), store, nil).Close(); err != nil {
		return fmt.Errorf("store %s: %w", flag, err)
	}
	return nil
}

// expunge deletes one message: \Deleted, then UID EXPUNGE, or EXPUNGE when
// the server has no UIDPLUS (which also removes whatever else is \Deleted).
func (s *session) expunge(uid uint32) error {
	if err := s.addFlag(uid, imap.FlagDeleted); err != nil {
		return err
	}
	var cmd *imapclient.ExpungeCommand
	if s.caps.Has(imap.CapUIDPlus) {
		cmd = s.c.UIDExpunge(imap.UIDSetNum(imap.UID(uid)))
	} else {
		cmd = s.c.Expunge()
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return nil
}

// move moves one message to folder, creating the folder when the server
// says it does not exist (TRYCREATE).
func (s *session) move(uid uint32, folder string) error {
	err := s.moveOnce(uid, folder)
	var imapErr *imap.Error
	if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeTryCreate {
		return err
	}
	if err := s.c.Create(folder, nil).Wait(); err != nil {
		return fmt.Errorf("create %q: %w", folder, err)
	}
	s.log.Info("created folder", "folder", folder)
	// Subscribed, so that mail clients show it; failing that is harmless.
	if err := s.c.Subscribe(folder).Wait(); err != nil {
		s.log.Debug("subscribe failed", "folder", folder, "err", err)
	}
	return s.moveOnce(uid, folder)
}

// moveOnce uses MOVE when the server has it. Otherwise it copies, and
// deletes the original only once the copy succeeded (go-imap's own fallback
// pipelines the delete behind the COPY and would lose the message when the
// COPY fails).
func (s *session) moveOnce(uid uint32, folder string) error {
	set := imap.UIDSetNum(imap.UID(uid))
	if s.caps.Has(imap.CapMove) {
		if _, err := s.c.Move(set, folder).Wait(); err != nil {
			return fmt.Errorf("move: %w", err)
		}
		return nil
	}
	if _, err := s.c.Copy(set, folder).Wait(); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return s.expunge(uid)
}

// wait returns when there may be new mail: at once if the server reported
// some, else when IDLE reports it (servers with IDLE) or after PollInterval.
// It returns an error when the connection is gone or ctx is done.
func (s *session) wait(ctx context.Context) error {
	select {
	case <-s.newMail: // arrived during the last pass
		return nil
	default:
	}
	timer := time.NewTimer(s.cfg.pollInterval)
	defer timer.Stop()

	if !s.caps.Has(imap.CapIdle) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.Closed():
			return errors.New("connection closed by the server")
		case <-timer.C:
		}
		// NOOP lets the server announce new mail and proves the
		// connection is alive.
		if err := s.c.Noop().Wait(); err != nil {
			return fmt.Errorf("noop: %w", err)
		}
		return nil
	}

	idle, err := s.c.Idle()
	if err != nil {
		return fmt.Errorf("start idle: %w", err)
	}
	s.log.Debug("idling")
	var waitErr error
	select {
	case <-ctx.Done():
		waitErr = ctx.Err()
	case <-s.c.Closed():
		waitErr = errors.New("connection closed by the server")
	case <-s.newMail:
	case <-timer.C: // safety re-scan
	}
	if err := idle.Close(); err != nil && waitErr == nil {
		waitErr = fmt.Errorf("stop idle: %w", err)
	}
	if err := idle.Wait(); err != nil && waitErr == nil {
		waitErr = fmt.Errorf("idle: %w", err)
	}
	return waitErr
}

// envelope builds the Envelope of a message from its header.
func (s *session) envelope(header []byte) mailbox.Envelope {
	env := mailbox.Envelope{Source: "imap", Account: s.cfg.envelopeSource}
	if a := s.p.Account.Address; a != "" {
		env.Rcpt = []string{a}
	}
	env.MailFrom, env.NullSender, _ = returnPath(header)
	return env
}
