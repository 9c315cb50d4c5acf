# helpmail's build and test entry points. `make test` is the one command
# that runs every test on a fresh Debian 12 machine: it installs what the
# tests need (gcc for cgo/SQLite, Dovecot for the IMAP poller tests) when
# it is missing, then runs vet and the whole test suite.

GO      ?= go
TAGS    := sqlite_fts5
PKGS    := ./...

.PHONY: test deps vet build bench fuzz run

test: deps vet
	CI=$${CI:-1} $(GO) test -tags $(TAGS) -race -timeout 45m $(PKGS)

# deps installs the system packages the tests use, only when missing.
deps:
	@command -v gcc >/dev/null || (apt-get update -qq && apt-get install -y -qq gcc libc6-dev)
	@test -x /usr/lib/dovecot/imap || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd)

vet:
	test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (gofmt -l . ; echo "gofmt: files above are not formatted"; exit 1)
	$(GO) vet -tags $(TAGS) $(PKGS)

build:
	$(GO) build -tags $(TAGS) -o helpmail ./cmd/helpmail

run:
	$(GO) run -tags $(TAGS) ./cmd/helpmail serve

# bench prints each figure next to its ceiling measured in the same run.
bench:
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchtime 3x $(PKGS)

fuzz:
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz FuzzParse -fuzztime 30s ./mailbox
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz FuzzMatch -fuzztime 30s ./threading
