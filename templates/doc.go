// Package templates owns every notification helpmail sends: the template
// files in English, French and Dutch, embedded in the binary, and their
// rendering into a subject, a text part and an HTML part.
//
// Each language directory (en/, fr/, nl/) holds the same files:
//
//	labels.txt          labels of status, priority, type, impact, SLA and
//	                    refusal codes, status meanings, weekday and month
//	                    names and the date formats, one {{define}} each
//	common.txt          text pieces shared by the text templates (greeting,
//	                    footer, ticket state block, email commands)
//	layout.html         the HTML page around every HTML part, and its pieces
//	<name>.subject      text/template: the subject line
//	<name>.txt          text/template: the text/plain part
//	<name>.html         html/template: the HTML content inside the layout
//
// Templates are executed with a [Data] and may call these functions, which
// answer in the template's language:
//
//	status, statusMeaning, priority, ticketType, impact, slaKind, refusal
//	        code → label from labels.txt ("" for "", the code itself when
//	        it has no label)
//	date    time → weekday, date, time and zone ("" for the zero time)
//	day     time → date only ("" for the zero time)
//	quote   text → every line prefixed with "> "
//	lines   text → its lines, for HTML line breaks
//	codes   kind → the codes of a label kind, see [Codes]
//	join    strings.Join
//
// An override directory with the same layout replaces embedded files one
// by one. [New] parses and checks everything once; a [Set] is then
// read-only and safe for concurrent use.
//
// Agent notifications that invite a reply (new ticket, customer reply,
// reopened, copy, on-call page) start with a line "##- <translated hint> -##";
// the agent writes above it, so reply extraction may cut at the first line
// that starts with "##-" and ends with "-##", in any language.
//
// Invariants: a rendered subject never contains CR, LF or NUL (Render
// refuses it with [ErrHeaderInjection], since values from inbound mail end
// up in it); every value is HTML-escaped in the HTML part; codes are shown
// as labels in the recipient's language; times are shown in Data.Zone; the
// text part ends with exactly one newline. The package imports nothing from
// the project: callers fill a [Data] with plain values.
package templates
