package helpmail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/helpmail/helpmail/threading"
)

// Sender delivers a message's bytes to recipients. mailbox/smtprelay and
// mailbox/emldir implement it. An error that satisfies
// interface{ Temporary() bool } with Temporary() false is permanent (the
// relay answered 5xx): the delivery is not retried. Every other error is
// retried with back-off.
type Sender interface {
	Send(ctx context.Context, from string, to []string, raw []byte) error
}

// OutboxWorker delivers queued mail. Rows are its only state: it claims due
// rows (marking them "sending" for a lease), sends each, and marks it sent,
// due again later (temporary failure, exponential back-off with jitter), or
// failed (permanent failure, or too many attempts). A row claimed by a
// process that died becomes due again when its lease expires, and is sent
// with the same bytes and Message-ID, since those were stored when it was
// queued.
type OutboxWorker struct {
	Store  Store
	Sender Sender
	Signer *threading.Signer
	// BounceAddress is the envelope sender, made per-row with a VERP token
	// ("bounces@example.com" → bounces+<token>@example.com) so a bounce
	// names the row it is about.
	BounceAddress string
	// MaxAttempts before a temporary failure becomes permanent; 0 = 12.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts;
	// 0 = 1 minute and 6 hours.
	MinBackoff, MaxBackoff time.Duration
	// Lease is how long a claim lasts; 0 = 10 minutes. It must exceed the
	// sender's worst-case time for one message.
	Lease time.Duration
	// Concurrency is how many messages are sent at once; 0 = 4.
	Concurrency int
	// SendTimeout bounds one Send; 0 = 5 minutes.
	SendTimeout time.Duration
	Logger      *slog.Logger
	// Now returns the current time; nil = time.Now.
	Now func() time.Time
	// Sent is called after each attempt with its result ("sent",
	// "retry", "failed"), for metrics; nil = nothing.
	Sent func(result string)

	once sync.Once
	wake chan struct{}
}

func (w *OutboxWorker) init() {
	w.once.Do(func() { w.wake = make(chan struct{}, 1) })
}

func (w *OutboxWorker) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

func (w *OutboxWorker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Wake tells a running worker that new rows were queued.
func (w *OutboxWorker) Wake() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers due rows until ctx is cancelled, sleeping until the next
// row is due or Wake is called. Sends in flight when ctx is cancelled are
// finished (bounded by SendTimeout), not abandoned.
func (w *OutboxWorker) Run(ctx context.Context) error {
	w.init()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.logger().Error("outbox pass failed", "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Minute
		var next time.Time
		err := w.Store.View(ctx, func(tx Tx) (err error) {
			next, err = tx.NextOutboxDue(ctx)
			return err
		})
		if err == nil && !next.IsZero() {
			wait = min(max(next.Sub(w.now()), 10*time.Millisecond), time.Minute)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-w.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// RunOnce sends every row due now (in batches) and returns how many
// attempts it made. It stops claiming when ctx is cancelled.
func (w *OutboxWorker) RunOnce(ctx context.Context) (int, error) {
	total := 0
	conc := orDefault(w.Concurrency, 4)
	for ctx.Err() == nil {
		var batch []*OutboxItem
		err := w.Store.Update(ctx, func(tx Tx) (err error) {
			batch, err = tx.ClaimOutbox(ctx, w.now(), orDefault(w.Lease, 10*time.Minute), conc*4)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("claim outbox: %w", err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, conc)
		errs := make([]error, len(batch))
		for i, o := range batch {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				errs[i] = w.deliver(ctx, o)
			}()
		}
		wg.Wait()
		total += len(batch)
		if err := errors.Join(errs...); err != nil {
			return total, err
		}
	}
	return total, nil
}

// deliver sends one claimed row and records the result. The send and the
// record run to completion even when ctx is cancelled (shutdown), so a
// message that was sent is also marked sent.
func (w *OutboxWorker) deliver(ctx context.Context, o *OutboxItem) error {
	ctx = context.WithoutCancel(ctx)
	sctx, cancel := context.WithTimeout(ctx, orDefault(w.SendTimeout, 5*time.Minute))
	from := w.envelopeFrom(o)
	start := time.Now()
	err := w.Sender.Send(sctx, from, []string{o.Rcpt}, o.Raw)
	cancel()
	now := w.now()
	o.Attempts++
	o.ClaimedUntil = time.Time{}
	result := "sent"
	log := w.logger().With("outbox", o.ID, "ticket", o.Ticket, "rcpt", o.Rcpt, "template", o.Template,
		"message_id", o.MessageID, "attempt", o.Attempts, "duration", time.Since(start).Round(time.Millisecond))
	switch {
	case err == nil:
		o.Status, o.SentAt, o.LastError = OutboxSent, now, ""
		log.Info("mail delivered")
	case isPermanent(err):
		o.Status, o.LastError = OutboxFailed, err.Error()
		result = "failed"
		log.Warn("mail failed permanently", "err", err)
	case o.Attempts >= orDefault(w.MaxAttempts, 12):
		o.Status, o.LastError = OutboxFailed, fmt.Sprintf("gave up after %d attempts: %v", o.Attempts, err)
		result = "failed"
		log.Warn("mail failed: too many attempts", "err", err)
	default:
		o.Status, o.LastError = OutboxQueued, err.Error()
		o.NextAttempt = now.Add(w.backoff(o.Attempts))
		result = "retry"
		log.Info("mail deferred", "err", err, "next_attempt", o.NextAttempt)
	}
	if w.Sent != nil {
		w.Sent(result)
	}
	return w.Store.Update(ctx, func(tx Tx) error {
		// A report on this very message may have come back while it was
		// being sent (a relay on the same host that takes it and bounces
		// it at once): the bounce stands, the attempt is still counted.
		cur, err := tx.FindOutbox(ctx, o.ID)
		if err != nil {
			return err
		}
		if cur.Status == OutboxBounced {
			cur.Attempts, cur.ClaimedUntil, cur.SentAt = o.Attempts, time.Time{}, o.SentAt
			return tx.UpdateOutbox(ctx, cur)
		}
		return tx.UpdateOutbox(ctx, o)
	})
}

// backoff returns the wait after the n-th failed attempt: MinBackoff
// doubled per attempt, capped at MaxBackoff, with ±20 % jitter so that rows
// failing together do not retry together.
func (w *OutboxWorker) backoff(n int) time.Duration {
	minB, maxB := orDefault(w.MinBackoff, time.Minute), orDefault(w.MaxBackoff, 6*time.Hour)
	d := minB
	for i := 1; i < n && d < maxB; i++ {
		d *= 2
	}
	d = min(d, maxB)
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return d + jitter
}

// envelopeFrom returns the VERP return path of a row.
func (w *OutboxWorker) envelopeFrom(o *OutboxItem) string {
	local, domain, ok := strings.Cut(w.BounceAddress, "@")
	if !ok || w.Signer == nil {
		return w.BounceAddress
	}
	return local + "+" + w.Signer.BounceToken(o.ID) + "@" + domain
}

// isPermanent reports whether a send error says retrying cannot help.
func isPermanent(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && !t.Temporary()
}

// RetryOutbox makes a failed or bounced row due again now (an operator's
// decision after fixing the cause).
func RetryOutbox(ctx context.Context, s Store, id int64, now time.Time) (*OutboxItem, error) {
	var o *OutboxItem
	err := s.Update(ctx, func(tx Tx) (err error) {
		if o, err = tx.FindOutbox(ctx, id); err != nil {
			return err
		}
		if o.Status == OutboxSent || o.Status == OutboxSending {
			return Errorf(ECONFLICT, "outbox row %d is %s", id, o.Status)
		}
		o.Status, o.NextAttempt, o.ClaimedUntil = OutboxQueued, now, time.Time{}
		return tx.UpdateOutbox(ctx, o)
	})
	return o, err
}
