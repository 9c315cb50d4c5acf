package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpmail/helpmail"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// opScrape fetches /metrics over HTTP and parses it with Prometheus's
// own text parser.
func opScrape(tb testing.TB, addr string) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		tb.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /metrics = %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// opMetric returns the metric of family name whose labels include labels
// (nil if none).
func opMetric(mfs map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// opValue is the value of a counter or gauge, -1 when it is missing.
func opValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := opMetric(mfs, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return -1
}

func opStatus(tb testing.TB, url string) int {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestMetrics(t *testing.T) {
	s := MustStartServer(t, func(c *Config) {
		c.HTTP.Listen = "127.0.0.1:0"
		c.SLA.Schedule = "@every 1s" // on the test clock, advanced below
	})
	if s.Admin == nil {
		t.Fatal("no admin listener with http.listen set")
	}
	admin := s.Admin.Addr()
	if code := opStatus(t, "http://"+admin+"/healthz"); code != 200 {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
	if code := opStatus(t, "http://"+admin+"/readyz"); code != 200 {
		t.Errorf("GET /readyz = %d, want 200", code)
	}

	first := msg("From: Ann <ann@customer.example>", "To: support@example.com", "Subject: Printer on fire", "Message-ID: <mt1@customer.example>")
	s.mustSend(t, "ann@customer.example", []string{"support@example.com"}, first)
	s.mustSend(t, "ann@customer.example", []string{"support@example.com"}, first) // duplicate
	s.mustSend(t, "ann@customer.example", []string{"support@example.com"}, msg("From: ann@customer.example", "To: support@example.com",
		"Subject: Re: [Support #1] Printer on fire", "Message-ID: <mt2@customer.example>", "body:Still burning.\r\n"))
	s.mustSend(t, "ooo@customer.example", []string{"support@example.com"}, msg("From: ooo@customer.example", "To: support@example.com",
		"Subject: Out of office", "Auto-Submitted: auto-replied", "Message-ID: <mt3@customer.example>"))
	s.waitOutbox(t, "ann@customer.example")

	mfs := opScrape(t, admin)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"helpmail_messages_received_total", []string{"source", "smtp", "result", "new_ticket"}, 1},
		{"helpmail_messages_received_total", []string{"source", "smtp", "result", "duplicate"}, 1},
		{"helpmail_messages_received_total", []string{"source", "smtp", "result", "update"}, 1},
		{"helpmail_messages_received_total", []string{"source", "smtp", "result", "automatic"}, 1},
		{"helpmail_tickets", []string{"status", "waiting_for_support"}, 1},
		{"helpmail_tickets", []string{"status", "resolved"}, 0},
		{"helpmail_outbox_queue_depth", nil, 0},
		{"helpmail_outbox_oldest_age_seconds", nil, 0},
		{"helpmail_outbox_failed", nil, 0},
		{"helpmail_sla_breaches_total", nil, 0},
		{"helpmail_scrape_error", nil, 0},
	} {
		if got := opValue(mfs, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	for _, st := range helpmail.Statuses {
		if opMetric(mfs, "helpmail_tickets", "status", string(st)) == nil {
			t.Errorf("helpmail_tickets has no status=%q series", st)
		}
	}
	// Every delivery the outbox made is counted as sent.
	var sent []*helpmail.OutboxItem
	s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		sent, err = tx.FindOutboxes(context.Background(), helpmail.OutboxFilter{Status: []helpmail.OutboxStatus{helpmail.OutboxSent}})
		return err
	})
	if got := opValue(mfs, "helpmail_outbox_deliveries_total", "result", "sent"); len(sent) == 0 || got != float64(len(sent)) {
		t.Errorf("helpmail_outbox_deliveries_total{result=sent} = %v, want %d (rows sent)", got, len(sent))
	}
	h := opMetric(mfs, "helpmail_ingest_duration_seconds", "source", "smtp")
	if h == nil || h.GetHistogram().GetSampleCount() != 4 || h.GetHistogram().GetSampleSum() <= 0 || len(h.GetHistogram().GetBucket()) < 5 {
		t.Errorf("helpmail_ingest_duration_seconds{source=smtp} = %v, want 4 samples in buckets", h)
	}

	// A change shows in the ticket gauge at the next scrape.
	resolved := helpmail.StatusResolved
	if _, err := s.App.Desk.UpdateTicket(context.Background(), 1, "alice@example.com", helpmail.Change{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	mfs = opScrape(t, admin)
	if opValue(mfs, "helpmail_tickets", "status", "resolved") != 1 || opValue(mfs, "helpmail_tickets", "status", "waiting_for_support") != 0 {
		t.Errorf("helpmail_tickets after resolving #1 = %v", mfs["helpmail_tickets"])
	}

	// A breach escalated by the scheduled jobs is counted.
	s.mustSend(t, "bea@customer.example", []string{"support@example.com"}, msg("From: bea@customer.example", "To: support@example.com",
		"Subject: Nobody answers", "Message-ID: <mt4@customer.example>"))
	s.clock.Advance(10 * 24 * time.Hour)
	deadline := time.Now().Add(15 * time.Second)
	for opValue(opScrape(t, admin), "helpmail_sla_breaches_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("helpmail_sla_breaches_total still 0 15 s after the first-response deadline passed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMetricsQueueBacklog: mail that cannot be delivered shows as queue
// depth, age and retried deliveries.
func TestMetricsQueueBacklog(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, nil, 0o600)
	s := MustStartServer(t, func(c *Config) {
		c.HTTP.Listen = "127.0.0.1:0"
		c.Outbound.EmlDir = filepath.Join(notADir, "outbox") // every write fails
	})
	s.mustSend(t, "ann@customer.example", []string{"support@example.com"}, msg("From: ann@customer.example", "To: support@example.com",
		"Subject: Printer", "Message-ID: <qb1@customer.example>"))
	s.clock.Advance(90 * time.Second)
	deadline := time.Now().Add(15 * time.Second)
	for {
		mfs := opScrape(t, s.Admin.Addr())
		depth, age := opValue(mfs, "helpmail_outbox_queue_depth"), opValue(mfs, "helpmail_outbox_oldest_age_seconds")
		retries := opValue(mfs, "helpmail_outbox_deliveries_total", "result", "retry")
		if depth >= 1 && retries >= 1 {
			if age < 90 || age > 91 {
				t.Errorf("helpmail_outbox_oldest_age_seconds = %v, want 90 (the desk's clock moved 90 s)", age)
			}
			if got := opValue(mfs, "helpmail_outbox_deliveries_total", "result", "sent"); got > 0 {
				t.Errorf("helpmail_outbox_deliveries_total{result=sent} = %v, want none", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15 s: queue depth %v, retries %v; want a backlog", depth, retries)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadyzDuringShutdown: once Close starts, /readyz says 503 (a load
// balancer stops sending), while the message in flight still gets its 250.
func TestReadyzDuringShutdown(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.HTTP.Listen = "127.0.0.1:0"
	var logs bytes.Buffer
	srv, err := StartServer(context.Background(), cfg, slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)))
	if err != nil {
		t.Fatalf("StartServer() = %v", err)
	}
	ready := "http://" + srv.Admin.Addr() + "/readyz"
	if code := opStatus(t, ready); code != 200 {
		t.Fatalf("GET /readyz = %d, want 200", code)
	}
	c, err := smtp.Dial(srv.SMTP.ListenAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("ann@customer.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("support@example.com"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		closed <- srv.Close(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for opStatus(t, ready) != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz still not 503 10 s after Close started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := opStatus(t, "http://"+srv.Admin.Addr()+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz while shutting down = %d, want 503", code)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA during shutdown = %v, want 354", err)
	}
	io.WriteString(w, strings.ReplaceAll(msg("From: ann@customer.example", "To: support@example.com", "Subject: in flight",
		"Message-ID: <inflight@customer.example>"), "\r\n", "\n"))
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA during shutdown = %v, want 250", err)
	}
	c.Quit()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close() = %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("Close() did not return")
	}
	// The acknowledged message is in the database.
	cfg.Log.Level = "error"
	app, err := OpenApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	var ms []*helpmail.Message
	app.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		ms, err = tx.FindMessagesByMessageID(context.Background(), "inflight@customer.example")
		return err
	})
	if len(ms) != 1 {
		t.Errorf("message acknowledged during shutdown: %d stored, want 1\n%s", len(ms), logs.String())
	}
}
