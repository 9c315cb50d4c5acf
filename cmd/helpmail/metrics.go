package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are helpmail's Prometheus metrics, in their own registry (no
// global state). Counters and the latency histogram are fed by the desk
// and the outbox worker; ticket and queue figures are read from the
// database at scrape time, so they are right after a restart too.
type metrics struct {
	registry   *prometheus.Registry
	received   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	deliveries *prometheus.CounterVec
	breaches   prometheus.Counter
}

// newMetrics builds the registry; now is the desk's clock, so that queue
// ages agree with the times the desk wrote.
func newMetrics(db *store.DB, now func() time.Time) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helpmail_messages_received_total",
			Help: "Inbound messages by source (smtp, imap, pipe, import) and result (new_ticket, update, duplicate, automatic, bounce, overview, rejected, failed).",
		}, []string{"source", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "helpmail_ingest_duration_seconds",
			Help:    "Time to parse, thread and commit one inbound message.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"source"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helpmail_outbox_deliveries_total",
			Help: "Delivery attempts of outgoing mail by result (sent, retry, failed).",
		}, []string{"result"}),
		breaches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helpmail_sla_breaches_total",
			Help: "SLA breaches escalated by the scheduled jobs.",
		}),
	}
	m.registry.MustRegister(m.received, m.latency, m.deliveries, m.breaches,
		&dbCollector{db: db, now: now}, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(source, result string, took time.Duration) {
	m.received.WithLabelValues(source, result).Inc()
	m.latency.WithLabelValues(source).Observe(took.Seconds())
}

// dbCollector reads ticket and outbox figures at scrape time.
type dbCollector struct {
	db  *store.DB
	now func() time.Time
}

var (
	ticketsDesc     = prometheus.NewDesc("helpmail_tickets", "Tickets by status.", []string{"status"}, nil)
	queueDepthDesc  = prometheus.NewDesc("helpmail_outbox_queue_depth", "Outgoing messages waiting to be sent (queued or sending).", nil, nil)
	queueAgeDesc    = prometheus.NewDesc("helpmail_outbox_oldest_age_seconds", "Age of the oldest outgoing message still waiting.", nil, nil)
	outboxFailDesc  = prometheus.NewDesc("helpmail_outbox_failed", "Outgoing messages that failed permanently or bounced.", nil, nil)
	scrapeErrorDesc = prometheus.NewDesc("helpmail_scrape_error", "1 if reading the database for these metrics failed.", nil, nil)
)

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ticketsDesc, queueDepthDesc, queueAgeDesc, outboxFailDesc, scrapeErrorDesc} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.db.ViewTx(ctx, func(tx *store.Tx) error {
		counts, err := tx.CountByStatus(ctx)
		if err != nil {
			return err
		}
		for _, s := range helpmail.Statuses {
			ch <- prometheus.MustNewConstMetric(ticketsDesc, prometheus.GaugeValue, float64(counts[string(s)]), string(s))
		}
		q, err := tx.OutboxStats(ctx)
		if err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(q.Waiting))
		age := 0.0
		if !q.OldestWaiting.IsZero() {
			age = max(c.now().Sub(q.OldestWaiting).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
		ch <- prometheus.MustNewConstMetric(outboxFailDesc, prometheus.GaugeValue, float64(q.Failed))
		return nil
	})
	v := 0.0
	if err != nil {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, v)
}

// adminServer is the HTTP admin listener: /metrics, /healthz, /readyz.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

// startAdmin listens on addr (synchronously, so a bad address fails
// start-up) and serves in a goroutine.
func startAdmin(addr string, m *metrics, s *Server, logger *slog.Logger) (*adminServer, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.health(r.Context()); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if err := s.health(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	a := &adminServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin server stopped", "err", err)
		}
	}()
	return a, nil
}

func (a *adminServer) Addr() string { return a.ln.Addr().String() }

func (a *adminServer) Close(ctx context.Context) error { return a.srv.Shutdown(ctx) }
