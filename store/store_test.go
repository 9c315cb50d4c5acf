package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/store"
)

// MustOpenDB opens a database in a temp directory, closed at cleanup.
func MustOpenDB(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "helpmail.db"), store.Options{})
	if err != nil {
		tb.Fatalf("Open() = %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func update(tb testing.TB, db *store.DB, fn func(tx helpmail.Tx) error) {
	tb.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		tb.Fatalf("Update() = %v", err)
	}
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newTicket(subject string) *helpmail.Ticket {
	return &helpmail.Ticket{Subject: subject, Requester: "ann@example.org", Status: helpmail.StatusWaitingForSupport,
		Priority: helpmail.PriorityMedium, Type: helpmail.TypeQuestion, Impact: helpmail.ImpactSingleUser,
		Language: "en", Address: "support@example.com", CreatedAt: t0, UpdatedAt: t0}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := store.Open(ctx, path, store.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	update(t, db, func(tx helpmail.Tx) error { return tx.CreateTicket(ctx, newTicket("first")) })
	db.Close()
	// Reopening applies no migration twice and keeps the data.
	db, err = store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatalf("reopen: Open() = %v", err)
	}
	defer db.Close()
	err = db.View(ctx, func(tx helpmail.Tx) error {
		got, err := tx.FindTicket(ctx, 1)
		if err != nil {
			return err
		}
		if got.Subject != "first" || !got.CreatedAt.Equal(t0) {
			t.Errorf("FindTicket(1) = %+v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, path, store.Options{Synchronous: "sometimes"}); err == nil {
		t.Errorf("Open(synchronous=sometimes) = nil error")
	}
}

func TestTickets(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	update(t, db, func(tx helpmail.Tx) error {
		for i, s := range []string{"a", "b", "c"} {
			tk := newTicket(s)
			tk.UpdatedAt = t0.Add(time.Duration(i) * time.Hour)
			if s == "b" {
				tk.Priority, tk.Status = helpmail.PrioritySystemDown, helpmail.StatusResolved
				tk.ResolutionDue = t0.Add(-time.Hour)
			}
			if err := tx.CreateTicket(ctx, tk); err != nil {
				return err
			}
			if tk.Number != int64(i+1) {
				t.Errorf("ticket %s got number %d", s, tk.Number)
			}
		}
		return nil
	})
	err := db.View(ctx, func(tx helpmail.Tx) error {
		list, total, err := tx.FindTickets(ctx, helpmail.TicketFilter{})
		if err != nil {
			return err
		}
		if total != 3 || list[0].Subject != "c" {
			t.Errorf("FindTickets() = %d tickets, first %q; want 3, c", total, list[0].Subject)
		}
		list, _, _ = tx.FindTickets(ctx, helpmail.TicketFilter{Sort: "priority"})
		if list[0].Subject != "b" {
			t.Errorf("sort priority: first = %q, want b", list[0].Subject)
		}
		list, total, _ = tx.FindTickets(ctx, helpmail.TicketFilter{Open: true})
		if total != 2 {
			t.Errorf("open tickets = %d, want 2", total)
		}
		list, total, _ = tx.FindTickets(ctx, helpmail.TicketFilter{Limit: 1, Offset: 1})
		if total != 3 || len(list) != 1 || list[0].Subject != "b" {
			t.Errorf("paging: %d of %d, first %q", len(list), total, list[0].Subject)
		}
		if _, err := tx.FindTicket(ctx, 99); helpmail.ErrorCode(err) != helpmail.ENOTFOUND {
			t.Errorf("FindTicket(99) = %v, want ENOTFOUND", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMessagesAndDuplicates(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	raw := []byte("From: a@b.c\r\nMessage-ID: <x@y>\r\n\r\nhello\xff\r\n")
	update(t, db, func(tx helpmail.Tx) error {
		tk := newTicket("s")
		if err := tx.CreateTicket(ctx, tk); err != nil {
			return err
		}
		m := &helpmail.Message{Ticket: tk.Number, Direction: helpmail.Inbound, Kind: helpmail.KindCustomer,
			MessageID: "x@y", RawSHA256: "r1", ContentSHA256: "b1", Raw: raw, CreatedAt: t0,
			Attachments: []helpmail.Attachment{
				{Filename: "a.txt", ContentType: "text/plain", Size: 3, SHA256: "h", Data: []byte("abc")},
				{Filename: "b.exe", ContentType: "application/octet-stream", Size: 9, Refused: "file type not accepted"},
			}}
		return tx.CreateMessage(ctx, m)
	})
	err := db.View(ctx, func(tx helpmail.Tx) error {
		for _, c := range []struct{ raw, id, body string }{{"r1", "", ""}, {"other", "x@y", "b1"}} {
			if id, err := tx.FindDuplicate(ctx, c.raw, c.id, c.body); err != nil || id != 1 {
				t.Errorf("FindDuplicate(%q,%q,%q) = %d, %v; want 1", c.raw, c.id, c.body, id, err)
			}
		}
		// Same Message-ID, other body: a different message.
		if id, _ := tx.FindDuplicate(ctx, "other", "x@y", "b2"); id != 0 {
			t.Errorf("FindDuplicate(other body) = %d, want 0", id)
		}
		m, err := tx.FindMessage(ctx, 1)
		if err != nil {
			return err
		}
		if string(m.Raw) != string(raw) {
			t.Errorf("raw bytes changed: %q", m.Raw)
		}
		if len(m.Attachments) != 2 || m.Attachments[1].Refused == "" || m.Attachments[0].SHA256 != "h" {
			t.Errorf("attachments = %+v", m.Attachments)
		}
		if n, _ := tx.TicketByMessageID(ctx, "x@y"); n != 1 {
			t.Errorf("TicketByMessageID = %d, want 1", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOutboxClaim(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	update(t, db, func(tx helpmail.Tx) error {
		m := &helpmail.Message{Direction: helpmail.Outbound, Kind: helpmail.KindNotification, RawSHA256: "x",
			Raw: []byte("Subject: hi\r\n\r\nbody\r\n"), CreatedAt: t0}
		if err := tx.CreateMessage(ctx, m); err != nil {
			return err
		}
		for _, rcpt := range []string{"a@x", "b@x"} {
			if err := tx.CreateOutbox(ctx, &helpmail.OutboxItem{Message: m.ID, Rcpt: rcpt, Automatic: true,
				NextAttempt: t0, CreatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	claim := func(now time.Time) []*helpmail.OutboxItem {
		var out []*helpmail.OutboxItem
		update(t, db, func(tx helpmail.Tx) (err error) {
			out, err = tx.ClaimOutbox(ctx, now, time.Minute, 10)
			return err
		})
		return out
	}
	if got := claim(t0.Add(-time.Second)); len(got) != 0 {
		t.Fatalf("claim before due = %d rows", len(got))
	}
	got := claim(t0)
	if len(got) != 2 || string(got[0].Raw) == "" || got[0].Status != helpmail.OutboxSending {
		t.Fatalf("claim = %+v", got)
	}
	if again := claim(t0.Add(30 * time.Second)); len(again) != 0 {
		t.Fatalf("claimed rows claimed again within the lease: %d", len(again))
	}
	// The process that claimed them died: the lease expires.
	if again := claim(t0.Add(2 * time.Minute)); len(again) != 2 {
		t.Fatalf("expired claims = %d rows, want 2", len(again))
	}
	update(t, db, func(tx helpmail.Tx) error {
		n, err := tx.CountAutomaticSince(ctx, "A@x", t0)
		if n != 1 || err != nil {
			t.Errorf("CountAutomaticSince = %d, %v", n, err)
		}
		if err := tx.Suppress(ctx, "A@X", "bounced", t0); err != nil {
			return err
		}
		if why, _ := tx.Suppressed(ctx, "a@x"); why != "bounced" {
			t.Errorf("Suppressed = %q", why)
		}
		if ok, _ := tx.Unsuppress(ctx, "a@x"); !ok {
			t.Errorf("Unsuppress = false")
		}
		return nil
	})
}

func TestCheckpointsAndSecret(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	if v, u, err := db.LoadCheckpoint(ctx, "acct", "INBOX"); v != 0 || u != 0 || err != nil {
		t.Fatalf("LoadCheckpoint(new) = %d, %d, %v", v, u, err)
	}
	if err := db.SaveCheckpoint(ctx, "acct", "INBOX", 7, 42); err != nil {
		t.Fatal(err)
	}
	if v, u, _ := db.LoadCheckpoint(ctx, "acct", "INBOX"); v != 7 || u != 42 {
		t.Fatalf("LoadCheckpoint = %d, %d; want 7, 42", v, u)
	}
	s1, err := db.Secret(ctx, "hmac")
	if err != nil || len(s1) != 32 {
		t.Fatalf("Secret() = %x, %v", s1, err)
	}
	if s2, _ := db.Secret(ctx, "hmac"); string(s1) != string(s2) {
		t.Fatalf("Secret changed between calls")
	}
}
