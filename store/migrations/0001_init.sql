-- helpmail schema, version 1. Released migrations are never edited: add a
-- new numbered file instead. Times are Unix milliseconds (UTC); 0 or NULL
-- means "not set". Addresses are stored lower-case.

CREATE TABLE tickets (
	number            INTEGER PRIMARY KEY AUTOINCREMENT,
	subject           TEXT    NOT NULL,
	requester         TEXT    NOT NULL,
	requester_name    TEXT    NOT NULL DEFAULT '',
	organization      TEXT    NOT NULL DEFAULT '',
	assignee          TEXT    NOT NULL DEFAULT '',
	status            TEXT    NOT NULL,
	priority          TEXT    NOT NULL,
	type              TEXT    NOT NULL,
	impact            TEXT    NOT NULL,
	language          TEXT    NOT NULL,
	reference         TEXT    NOT NULL DEFAULT '',
	address           TEXT    NOT NULL,
	follow_up_of      INTEGER REFERENCES tickets(number),
	merged_into       INTEGER REFERENCES tickets(number),
	thread_index      TEXT    NOT NULL DEFAULT '',
	root_message_id   TEXT    NOT NULL DEFAULT '',
	last_message_id   TEXT    NOT NULL DEFAULT '',
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	first_response_at INTEGER NOT NULL DEFAULT 0,
	resolved_at       INTEGER NOT NULL DEFAULT 0,
	closed_at         INTEGER NOT NULL DEFAULT 0,
	status_since             INTEGER NOT NULL DEFAULT 0,
	first_response_due       INTEGER NOT NULL DEFAULT 0,
	first_response_warn      INTEGER NOT NULL DEFAULT 0,
	resolution_due           INTEGER NOT NULL DEFAULT 0,
	resolution_warn          INTEGER NOT NULL DEFAULT 0,
	resolution_elapsed_ms    INTEGER NOT NULL DEFAULT 0,
	resolution_running_since INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tickets_status ON tickets(status, updated_at);
CREATE INDEX tickets_requester ON tickets(requester);
CREATE INDEX tickets_organization ON tickets(organization);
CREATE INDEX tickets_updated ON tickets(updated_at);
-- The scheduled jobs look only at tickets whose next SLA instant has come.
CREATE INDEX tickets_fr_warn ON tickets(first_response_warn) WHERE first_response_at = 0 AND first_response_warn != 0;
CREATE INDEX tickets_fr_due ON tickets(first_response_due) WHERE first_response_at = 0 AND first_response_due != 0;
CREATE INDEX tickets_res_warn ON tickets(resolution_warn) WHERE resolution_warn != 0;
CREATE INDEX tickets_res_due ON tickets(resolution_due) WHERE resolution_due != 0;
CREATE INDEX tickets_status_since ON tickets(status, status_since);

CREATE TABLE participants (
	ticket   INTEGER NOT NULL REFERENCES tickets(number),
	address  TEXT    NOT NULL,
	name     TEXT    NOT NULL DEFAULT '',
	role     TEXT    NOT NULL,
	added_by TEXT    NOT NULL DEFAULT '',
	added_at INTEGER NOT NULL,
	PRIMARY KEY (ticket, address)
);
CREATE INDEX participants_address ON participants(address);

-- Every message, inbound and outbound, with its exact bytes.
CREATE TABLE messages (
	id            INTEGER PRIMARY KEY,
	ticket        INTEGER REFERENCES tickets(number),
	direction     TEXT    NOT NULL,
	kind          TEXT    NOT NULL,
	message_id    TEXT    NOT NULL DEFAULT '',
	raw_sha256    TEXT    NOT NULL,
	content_sha256   TEXT    NOT NULL DEFAULT '',
	raw           BLOB    NOT NULL,
	source        TEXT    NOT NULL DEFAULT '',
	envelope_from TEXT    NOT NULL DEFAULT '',
	envelope_to   TEXT    NOT NULL DEFAULT '[]',
	remote_addr   TEXT    NOT NULL DEFAULT '',
	from_addr     TEXT    NOT NULL DEFAULT '',
	from_name     TEXT    NOT NULL DEFAULT '',
	to_addrs      TEXT    NOT NULL DEFAULT '[]',
	cc_addrs      TEXT    NOT NULL DEFAULT '[]',
	subject       TEXT    NOT NULL DEFAULT '',
	date          INTEGER NOT NULL DEFAULT 0,
	text          TEXT    NOT NULL DEFAULT '',
	decision      TEXT    NOT NULL DEFAULT '{}',
	created_at    INTEGER NOT NULL
);
CREATE INDEX messages_ticket ON messages(ticket, id);
CREATE INDEX messages_message_id ON messages(message_id) WHERE message_id != '';
CREATE INDEX messages_raw_sha256 ON messages(raw_sha256);

-- File contents, once per SHA-256.
CREATE TABLE blobs (
	sha256 TEXT PRIMARY KEY,
	size   INTEGER NOT NULL,
	data   BLOB    NOT NULL
);

CREATE TABLE attachments (
	message      INTEGER NOT NULL REFERENCES messages(id),
	position     INTEGER NOT NULL,
	filename     TEXT    NOT NULL DEFAULT '',
	content_type TEXT    NOT NULL DEFAULT '',
	size         INTEGER NOT NULL,
	sha256       TEXT    REFERENCES blobs(sha256),
	inline       INTEGER NOT NULL DEFAULT 0,
	content_id   TEXT    NOT NULL DEFAULT '',
	refused      TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (message, position)
);

CREATE TABLE history (
	id      INTEGER PRIMARY KEY,
	ticket  INTEGER NOT NULL REFERENCES tickets(number),
	at      INTEGER NOT NULL,
	actor   TEXT    NOT NULL,
	field   TEXT    NOT NULL,
	old     TEXT    NOT NULL DEFAULT '',
	new     TEXT    NOT NULL DEFAULT '',
	reason  TEXT    NOT NULL DEFAULT '',
	message INTEGER REFERENCES messages(id)
);
CREATE INDEX history_ticket ON history(ticket, id);

-- One row per delivery of an outbound message to one recipient.
CREATE TABLE outbox (
	id            INTEGER PRIMARY KEY,
	message       INTEGER NOT NULL REFERENCES messages(id),
	ticket        INTEGER REFERENCES tickets(number),
	rcpt          TEXT    NOT NULL,
	template      TEXT    NOT NULL DEFAULT '',
	automatic     INTEGER NOT NULL DEFAULT 0,
	status        TEXT    NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	next_attempt  INTEGER NOT NULL DEFAULT 0,
	claimed_until INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	sent_at       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox(status, next_attempt);
CREATE INDEX outbox_rcpt ON outbox(rcpt, created_at) WHERE automatic = 1;
CREATE INDEX outbox_ticket ON outbox(ticket);

-- Addresses that bounced permanently: no automatic mail until cleared.
CREATE TABLE suppressions (
	address    TEXT PRIMARY KEY,
	reason     TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);

-- IMAP poller checkpoints.
CREATE TABLE checkpoints (
	account      TEXT    NOT NULL,
	mailbox      TEXT    NOT NULL,
	uid_validity INTEGER NOT NULL,
	last_uid     INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (account, mailbox)
);

-- Reminders and escalations already sent: the UNIQUE key makes each one
-- happen once per ticket, kind and deadline, whatever runs twice.
CREATE TABLE sla_marks (
	ticket     INTEGER NOT NULL REFERENCES tickets(number),
	kind       TEXT    NOT NULL,
	deadline   INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (ticket, kind, deadline)
);

-- Small persistent settings, e.g. the HMAC secret generated on first start
-- when the configuration names none.
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- Jobs that run once per key (the daily digest once per day).
CREATE TABLE job_marks (
	kind       TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (kind, key)
);
