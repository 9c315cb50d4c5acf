package templates

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Brussels on machines without zoneinfo
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// utc returns the time of day on 2026-month-day in UTC.
func utc(month time.Month, day, hour, min int) time.Time {
	return time.Date(2026, month, day, hour, min, 0, 0, time.UTC)
}

// sampleData returns a realistic Data for template name: the same helpdesk
// and ticket for every template, with the fields that template shows.
func sampleData(tb testing.TB, name string) Data {
	tb.Helper()
	brussels, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		tb.Fatalf("LoadLocation(Europe/Brussels) = %v", err)
	}
	d := Data{
		Helpdesk:       "Acme Support",
		Tag:            "Support",
		SupportAddress: "support@acme.example",
		Zone:           brussels,
		Recipient:      "Marie Dupont",
		Ticket: Ticket{
			Number:           1042,
			Subject:          "VPN connection drops every 10 minutes",
			Status:           "waiting_for_support",
			Priority:         "high",
			Type:             "incident",
			Impact:           "end_users",
			Requester:        "Marie Dupont",
			Organization:     "Dupont & Fils",
			Assignee:         "Sophie Martin",
			Created:          utc(time.March, 2, 13, 5),
			Updated:          utc(time.March, 2, 13, 5),
			FirstResponseDue: utc(time.March, 3, 13, 5),
			ResolutionDue:    utc(time.March, 6, 16, 0),
			Reference:        "PO-2026-117",
		},
	}
	customerText := "Hello,\r\n\r\nSince this morning the VPN disconnects every ten minutes for everyone in the Ghent office.\r\nThe client shows \"TLS handshake timeout\" <error 809>.\r\n\r\n> Earlier advice: restart the router\r\nWe did, it did not help.\r\n\r\nMarie\r\n"
	switch name {
	case TicketOpened:
		d.Ticket.Assignee = ""
		d.Ticket.FollowUpOf = 1001
	case AgentReply:
		d.Agent = "Sophie Martin"
		d.Ticket.Status = "waiting_for_customer"
		d.Body = "Dear Ms Dupont,\n\nThank you for the details. Could you send us the client log from one of the affected laptops?\nYou find it under Settings > Diagnostics > Export.\n\nBest regards,\n"
	case StatusChanged:
		d.Agent = "Sophie Martin"
		d.OldStatus, d.NewStatus = "waiting_for_support", "planned"
		d.Ticket.Status = "planned"
	case TicketClosed:
		d.Ticket.Status = "closed"
		d.ReopenDays = 30
	case WaitingReminder:
		d.Ticket.Status = "waiting_for_customer"
		d.Days = 5
		d.CloseOn = utc(time.March, 16, 9, 0)
	case AutoClosed:
		d.Ticket.Status = "closed"
		d.OldStatus = "resolved"
		d.Days = 14
		d.ReopenDays = 30
	case RefusedAttachment:
		d.MaxSize = "15 MB"
		d.Files = []RefusedFile{
			{Name: "vpn-setup.exe", Reason: "type_not_allowed"},
			{Name: "screen-recording.mov", Reason: "too_large"},
		}
	case MessageTooLarge:
		d.MaxSize = "25 MB"
	case RequestsOverview:
		d.Ticket = Ticket{}
		d.Tickets = []Ticket{
			{Number: 1042, Subject: "VPN connection drops every 10 minutes", Status: "waiting_for_support", Requester: "Marie Dupont", Updated: utc(time.March, 2, 13, 5), Reference: "PO-2026-117"},
			{Number: 1037, Subject: "Export to Excel misses the last column", Status: "planned", Requester: "Jan Peeters", Updated: utc(time.February, 26, 8, 40)},
			{Number: 1001, Subject: "Password reset mail not received", Status: "closed", Requester: "Marie Dupont", Updated: utc(time.February, 10, 15, 12)},
		}
	case AgentNewTicket, OncallPage:
		d.Recipient = "Sophie Martin"
		d.Body = customerText
		if name == OncallPage {
			d.Ticket.Priority, d.Ticket.Impact, d.Ticket.Assignee = "system_down", "everyone", ""
		}
	case AgentCustomerReply:
		d.Recipient = "Sophie Martin"
		d.Author = "Jan Peeters"
		d.Body = "We tried the new profile on two laptops: same problem, see the attached log.\n"
	case AgentTicketReopened:
		d.OldStatus = "resolved"
		d.Body = "The problem is back since the update of this night.\n"
	case AgentCopy:
		d.Agent = "Sophie Martin"
		d.Internal = true
		d.Body = "Checked with the network team: the Ghent gateway certificate expired yesterday. Renewal planned at 16:00."
	case SLAWarning:
		d.SLAKind = "first_response"
		d.Deadline = d.Ticket.FirstResponseDue
	case SLABreach:
		d.SLAKind = "resolution"
		d.Deadline = d.Ticket.ResolutionDue
		d.Ticket.Breached = true
	case DailyDigest:
		d.Recipient = "Sophie Martin"
		d.Ticket = Ticket{}
		d.Digest = Digest{
			Date:       utc(time.March, 2, 7, 0),
			Open:       12,
			ByStatus:   []Count{{"waiting_for_support", 5}, {"waiting_for_customer", 4}, {"in_backlog", 2}, {"planned", 1}},
			ByPriority: []Count{{"critical", 1}, {"high", 3}, {"medium", 6}, {"low", 2}},
			Breached: []Ticket{
				{Number: 1038, Subject: "Invoices PDF empty", Priority: "critical", Status: "waiting_for_support", Requester: "Jan Peeters", Organization: "Peeters BV", Created: utc(time.February, 25, 10, 0)},
			},
			Oldest: []Ticket{
				{Number: 998, Subject: "Dark mode for the dashboard", Priority: "low", Status: "in_backlog", Requester: "Lotte Janssens", Organization: "Janssens & Co", Assignee: "Sophie Martin", Created: utc(time.January, 1, 9, 30)},
				{Number: 1001, Subject: "Password reset mail not received", Priority: "medium", Status: "waiting_for_customer", Requester: "Marie Dupont", Organization: "Dupont & Fils", Assignee: "Pieter De Smet", Created: utc(time.February, 9, 8, 0)},
			},
		}
	case CommandError:
		d.Recipient = "Sophie Martin"
		d.Errors = []string{`#status done: unknown status "done"`, "#assign bob@example.com: not an agent"}
	}
	return d
}

// TestGolden renders every template in every language from sampleData and
// compares subject, text and HTML with testdata/golden/<lang>/<name>.*;
// -update rewrites the files instead.
func TestGolden(t *testing.T) {
	s := newSet(t, "")
	for _, lang := range s.Languages() {
		for _, name := range s.Names() {
			t.Run(lang+"/"+name, func(t *testing.T) {
				t.Parallel()
				r, err := s.Render(lang, name, sampleData(t, name))
				if err != nil {
					t.Fatalf("Render(%q, %q) error = %v", lang, name, err)
				}
				for ext, got := range map[string]string{"subject": r.Subject + "\n", "txt": r.Text, "html": r.HTML} {
					path := filepath.Join("testdata", "golden", lang, name+"."+ext)
					if *update {
						if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
							t.Fatal(err)
						}
						continue
					}
					want, err := os.ReadFile(path)
					if err != nil {
						t.Fatalf("read golden file: %v (run go test ./templates -update)", err)
					}
					if got != string(want) {
						t.Errorf("Render(%q, %q) %s =\n%s\nwant (%s)\n%s", lang, name, ext, got, path, want)
					}
				}
			})
		}
	}
}

// newSet returns New(overrideDir) or fails the test.
func newSet(tb testing.TB, overrideDir string) *Set {
	tb.Helper()
	s, err := New(overrideDir)
	if err != nil {
		tb.Fatalf("New(%q) error = %v", overrideDir, err)
	}
	return s
}
