-- Full-text search over message subjects and texts (SQLite FTS5; helpmail
-- is built with -tags sqlite_fts5). The index reads its content from the
-- messages table (snippets come from there); triggers keep it in step.
CREATE VIRTUAL TABLE messages_fts USING fts5(
	subject, text,
	content = 'messages', content_rowid = 'id',
	tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO messages_fts (rowid, subject, text) SELECT id, subject, text FROM messages;

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
	INSERT INTO messages_fts (rowid, subject, text) VALUES (new.id, new.subject, new.text);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, text ON messages BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
	INSERT INTO messages_fts (rowid, subject, text) VALUES (new.id, new.subject, new.text);
END;
