package threading

import (
	"strings"
	"testing"
)

// lineEndings runs f with text and want rewritten from LF to each line
// ending ExtractReply and StripSignature must keep as they are.
func lineEndings(t *testing.T, text, want string, f func(t *testing.T, text, want string)) {
	t.Helper()
	for _, eol := range []string{"\n", "\r\n", "\r"} {
		f(t, strings.ReplaceAll(text, "\n", eol), strings.ReplaceAll(want, "\n", eol))
	}
}

// TestExtractReplyTalon runs ExtractReply over the real replies of
// mailgun/talon's standard_replies fixtures (decoded text/plain parts).
// Talon's own expectation for these files is the reply "Hello"; the
// expected texts below are written out per file.
func TestExtractReplyTalon(t *testing.T) {
	tests := []struct {
		file      string
		reply     string // ExtractReply
		stripped  string // StripSignature(ExtractReply)
		whatsThis string
	}{
		{"android.eml", "Hello", "Hello", "Russian attribution wrapped over two lines, '>' quote"},
		{"aol.eml", "Hello", "Hello", "-----Original Message----- with From/To/Sent/Subject"},
		{"apple_mail.eml", "Hello", "Hello", "On Apr 3, 2012, at 4:19 PM, bob wrote:"},
		{"apple_mail_2.eml", "Hello", "Hello", "quoted attribution inside the '>' block"},
		{"gmail.eml", "Hello", "Hello", "On <date>, <name> <addr> wrote:"},
		{"hotmail.eml", "Hello", "Hello", "leading blank line, '>' block, whitespace-only last line"},
		{"iphone.eml", "Hello\n\nSent from my iPhone", "Hello", "sign-off above a QP-wrapped attribution"},
		{"outlook.eml", "Hello", "Hello", "From: / Sent: / To: / Subject: block"},
		{
			"reply-quotations-share-block.eml",
			"Hi Katharine.\u00a0 Sounds great.\u00a0 Are there and dietry restrictions or things your husband does/doesn't like to eat?\u00a0 " +
				"Would you like to do a few hors d oeuvres and then a\u00a03 or 4\u00a0course dinner?\u00a0 Let me know what you think will work " +
				"best and I will start working on a menu and proposal.\u00a0 Thanks so much and look forward to hearing from you soon.\n\u00a0\nJoe XXX",
			"Hi Katharine.\u00a0 Sounds great.\u00a0 Are there and dietry restrictions or things your husband does/doesn't like to eat?\u00a0 " +
				"Would you like to do a few hors d oeuvres and then a\u00a03 or 4\u00a0course dinner?\u00a0 Let me know what you think will work " +
				"best and I will start working on a menu and proposal.\u00a0 Thanks so much and look forward to hearing from you soon.\n\u00a0\nJoe XXX",
			"Yahoo '--- On <date>, <addr> wrote:' with no '>' quote",
		},
		{"sparrow.eml", "Hello \n\n-- \nxxx\nSent with Sparrow (http://www.sparrowmailapp.com/?sig)", "Hello", "signature block above the attribution"},
		{"thunderbird.eml", "Hello", "Hello", "bottom-posted below the quote"},
		{"yahoo.eml", "Hello", "Hello", "----- Original Message -----"},
	}
	for _, tt := range tests {
		text := plainText(t, readCorpus(t, "talon/"+tt.file))
		text = strings.ReplaceAll(text, "\r\n", "\n")
		lineEndings(t, text, tt.reply, func(t *testing.T, text, want string) {
			if got := ExtractReply(text); got != want {
				t.Errorf("%s (%s): ExtractReply(%q) = %q, want %q", tt.file, tt.whatsThis, text, got, want)
			}
		})
		if got := StripSignature(tt.reply); got != tt.stripped {
			t.Errorf("%s: StripSignature(%q) = %q, want %q", tt.file, tt.reply, got, tt.stripped)
		}
	}
}

func TestExtractReply(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty", "", ""},
		{"blank", "\n \n\t\n", ""},
		{"no quote", "Just text.\n\nSecond paragraph.\n\n", "Just text.\n\nSecond paragraph."},
		{"gmail", "Thanks!\n\nOn Mon, Apr 3, 2023 at 10:12 AM Support <support@example.com> wrote:\n\n> Hello\n", "Thanks!"},
		{"gmail wrapped over two lines", "Thanks!\n\nOn Mon, Apr 3, 2023 at 10:12 AM Jonathan Longname-Example <\njonathan.longname@example.com> wrote:\n\n> Hello\n", "Thanks!"},
		{"gmail attribution without quote lines", "Thanks!\n\nOn Mon, Apr 3, 2023 at 10:12 AM Bob <bob@example.com> wrote:\nHello\n", "Thanks!"},
		{"apple mail", "OK\n\n> On 3 Apr 2023, at 10:12, Bob <bob@example.com> wrote:\n> \n> Hi\n", "OK"},
		{"apple mail unquoted", "OK\n\nOn Apr 3, 2023, at 10:12 AM, Bob <bob@example.com> wrote:\n\n> Hi\n", "OK"},
		{"thunderbird", "OK\n\nOn 03/04/2023 10:12, Bob wrote:\n> Hi\n", "OK"},
		{"french gmail, no-break space", "Merci, c'est réglé.\n\nLe lun. 3 avr. 2023 à 10:12, Support <support@example.com> a écrit\u00a0:\n\n> Bonjour\n", "Merci, c'est réglé."},
		{"french gmail, narrow no-break space", "Merci.\n\nLe lun. 3 avr. 2023 à 10:12, Support <support@example.com> a écrit\u202f:\n> Bonjour\n", "Merci."},
		{"french gmail, normal space", "Merci.\n\nLe 3 avr. 2023 à 10:12, Jean Dupont <jean@example.fr> a écrit :\n> Bonjour\n", "Merci."},
		{"french gmail wrapped", "Merci.\n\nLe lun. 3 avr. 2023 à 10:12, Jean-Baptiste Dupont-Lefebvre <\njean-baptiste.dupont@example.fr> a écrit :\n\n> Bonjour\n", "Merci."},
		{"french outlook", "Bonjour,\n\nC'est corrigé.\n\nDe\u00a0: Jean Dupont <jean@example.fr>\nEnvoyé\u00a0: lundi 3 avril 2023 10:12\nÀ\u00a0: Support <support@example.com>\nObjet\u00a0: VPN\n\nBonjour\n", "Bonjour,\n\nC'est corrigé."},
		{"french separator", "Voilà.\n\n-----Message d'origine-----\nDe : Jean\nEnvoyé : lundi\n", "Voilà."},
		{"dutch gmail", "Bedankt!\n\nOp ma 3 apr. 2023 om 10:12 schreef Jan Jansen <jan@example.nl>:\n\n> Hallo\n", "Bedankt!"},
		{"dutch outlook", "Opgelost.\n\nVan: Jan Jansen <jan@example.nl>\nVerzonden: maandag 3 april 2023 10:12\nAan: Support <support@example.com>\nOnderwerp: VPN\n\nHallo\n", "Opgelost."},
		{"dutch separator", "Opgelost.\n\n-----Oorspronkelijk bericht-----\nVan: Jan\n", "Opgelost."},
		{"dutch het volgende", "Ja.\n\nOp 3 april 2023 10:12 schreef Jan Jansen het volgende:\n\n> Hallo\n", "Ja."},
		{"german gmail", "Danke!\n\nAm Mo., 3. Apr. 2023 um 10:12 Uhr schrieb Hans Müller <hans@example.de>:\n\n> Hallo\n", "Danke!"},
		{"german outlook", "Erledigt.\n\nVon: Hans Müller <hans@example.de>\nGesendet: Montag, 3. April 2023 10:12\nAn: Support <support@example.com>\nBetreff: VPN\n", "Erledigt."},
		{"german separator", "Erledigt.\n\n-----Ursprüngliche Nachricht-----\nVon: Hans\n", "Erledigt."},
		{"outlook rule", "Fixed.\n\n________________________________\nFrom: Bob <bob@example.com>\nSent: Monday, April 3, 2023 10:12 AM\nTo: Support\nSubject: VPN\n\nHi\n", "Fixed."},
		{"outlook bold header", "Fixed.\n\n*From:* Bob <bob@example.com>\n*Sent:* Monday, April 3, 2023 10:12 AM\n", "Fixed."},
		{"outlook rule not before From", "Fixed.\n________________________________\nNot a header.\n", "Fixed.\n________________________________\nNot a header."},
		{"prose shaped like an attribution", "Op de website schreef ik het volgende:\n\nfoutmelding\n", "Op de website schreef ik het volgende:\n\nfoutmelding"},
		{"From: in prose is not a header", "From: my side it works now.\nThanks\n", "From: my side it works now.\nThanks"},
		{"undated attribution above the quote", "Ok\n\nBob wrote:\n> Hi\n", "Ok"},
		{"wrote: with an address in another language", "Ok\n\nBob <bob@example.com> skrev:\n> Hi\n", "Ok"},
		{"quote then signature", "Answer\n\n> quoted\n> more\n\n-- \nBob\n", "Answer"},
		{"inline reply keeps its quotes", "> Question one?\nAnswer one.\n\n> Question two?\nAnswer two.\n\n> Thanks\n> Bob\n",
			"> Question one?\nAnswer one.\n\n> Question two?\nAnswer two."},
		{"inline reply after a header", "On Mon, 3 Apr 2023, Bob <bob@example.com> wrote:\n> Question one?\nAnswer one.\n> Question two?\n",
			"On Mon, 3 Apr 2023, Bob <bob@example.com> wrote:\n> Question one?\nAnswer one."},
		{"bottom post without header", "> Hi\n> there\n\nHello\n", "Hello"},
		{"bottom post with signature", "On Mon, 3 Apr 2023, Bob wrote:\n> Hi\n\nHello\n-- \nAlice\n", "Hello\n-- \nAlice"},
		{"only a quote", "> just a quote\n", "> just a quote"},
		{"only a header and a quote", "On Mon, 3 Apr 2023, Bob wrote:\n> Hi\n", "On Mon, 3 Apr 2023, Bob wrote:\n> Hi"},
		{"forward without comment", "-----Original Message-----\nFrom: Bob\nSent: Monday\n\nHi\n", "-----Original Message-----\nFrom: Bob\nSent: Monday\n\nHi"},
		{"greater-than inside text", "a > b\n\nOn Mon, 3 Apr 2023, Bob wrote:\n> x\n", "a > b"},
		// Agents answering helpmail's own notifications (SPEC §5): the
		// quote header names the support token address, the quote holds
		// the notification with its marker and its own "> " quote.
		{"gmail answering a notification", "#status resolved\n\nHi Ann,\n\nFixed.\n\nOn Mon, 2 Mar 2026 at 10:00, Example Support <support+1-abcdefgh-abcdefghijklmnop@example.com> wrote:\n\n" +
			"> ##- Reply above this line to answer the customer -##\n>\n> New ticket #1 from ann@customer.example:\n>\n> > The printer is on fire.\n",
			"#status resolved\n\nHi Ann,\n\nFixed."},
		{"gmail html answering a notification (HTMLToText)", "Hi Ann,\n\nFixed.\n\nOn Mon, 2 Mar 2026 at 10:00, Example Support <support+1-abcdefgh-abcdefghijklmnop@example.com> wrote:\n" +
			"> ##- Reply above this line to answer the customer -##\n> New ticket #1 from Ann:\n> > The printer is on fire.", "Hi Ann,\n\nFixed."},
		{"outlook answering a notification", "Hi Ann,\n\nFixed.\n\nBest regards,\nAlice\n\n________________________________\nFrom: Example Support <support+1-abcdefgh-abcdefghijklmnop@example.com>\n" +
			"Sent: Monday, March 2, 2026 10:00 AM\nTo: Alice Agent <alice@example.com>\nSubject: [Support #1] New ticket (Medium): Printer on fire\n\n" +
			"##- Reply above this line to answer the customer -##\n\nNew ticket #1 from ann@customer.example:\n\n> The printer is on fire.\n",
			"Hi Ann,\n\nFixed.\n\nBest regards,\nAlice"},
		{"outlook html answering a notification (HTMLToText)", "Hi Ann,\n\nFixed.\nFrom: Example Support <support+1-abcdefgh-abcdefghijklmnop@example.com>\nSent: Monday, March 2, 2026 10:00 AM\n" +
			"To: Alice Agent <alice@example.com>\nSubject: [Support #1] New ticket (Medium): Printer on fire\n\n##- Reply above this line to answer the customer -##\n" +
			"New ticket #1 from Ann:\n> The printer is on fire.", "Hi Ann,\n\nFixed."},
		{"apple mail french, attribution inside the quote", "Bonjour Ann,\n\nC’est réparé.\n\n> Le 2 mars 2026 à 10:00, Example Support <support+1-abcdefgh-abcdefghijklmnop@example.com> a écrit :\n>\n" +
			"> ##- Reply above this line to answer the customer -##\n> \n> > Le module de fusion est en feu.\n", "Bonjour Ann,\n\nC’est réparé."},
		{"apple mail french, attribution above the quote", "Merci.\n\nLe 2 mars 2026 à 10:00, Example Support <support+1-abcdefgh-abcdefghijklmnop@example.com> a écrit :\n\n> Bonjour\n", "Merci."},
		{"apple mail french html (HTMLToText)", "Merci,\n\nC’est réparé.\n\n> Le 2 mars 2026 à 10:00, Example Support <support+1-abcdefgh-abcdefghijklmnop@example.com> a écrit :\n\n> Bonjour",
			"Merci,\n\nC’est réparé."},
	}
	for _, tt := range tests {
		lineEndings(t, tt.text, tt.want, func(t *testing.T, text, want string) {
			if got := ExtractReply(text); got != want {
				t.Errorf("%s: ExtractReply(%q) = %q, want %q", tt.name, text, got, want)
			}
		})
	}
}

func TestStripSignature(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty", "", ""},
		{"nothing to strip", "Hello\n\nBye\n", "Hello\n\nBye"},
		{"rfc 3676 separator", "Hello\n\n-- \nAlice\nExample Corp\n", "Hello"},
		{"last separator wins", "Hello\n-- \nnot a sig\n-- \nAlice\n", "Hello\n-- \nnot a sig"},
		{"bare separator, short block", "Hello\n--\nAlice\n", "Hello"},
		{"bare separator, long block", "Hello\n--\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", "Hello\n--\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11"},
		{"long rfc 3676 signature", "Hello\n-- \n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", "Hello"},
		{"dashes in text", "Hello -- world\n---\nBye\n", "Hello -- world\n---\nBye"},
		{"iphone", "Hello\n\nSent from my iPhone\n", "Hello"},
		{"ipad with period", "Hello\nSent from my iPad.\n", "Hello"},
		{"french iphone", "Bonjour\n\nEnvoyé de mon iPhone\n", "Bonjour"},
		{"dutch iphone", "Hallo\n\nVerzonden vanaf mijn iPhone\n", "Hallo"},
		{"german iphone", "Hallo\n\nVon meinem iPhone gesendet\n", "Hallo"},
		{"outlook ios", "Hi\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n", "Hi"},
		{"outlook android", "Hi\n\nGet Outlook for Android\n", "Hi"},
		{"sign-off above a signature", "Hi\nSent from my iPhone\n-- \nAlice\n", "Hi"},
		{"sign-off below a signature", "Hi\n-- \nAlice\n\nSent from my iPhone\n", "Hi"},
		{"sign-off in the middle stays", "Sent from my iPhone\nbut then more text\n", "Sent from my iPhone\nbut then more text"},
		{"only a signature", "-- \nAlice\n", ""},
	}
	for _, tt := range tests {
		lineEndings(t, tt.text, tt.want, func(t *testing.T, text, want string) {
			if got := StripSignature(text); got != want {
				t.Errorf("%s: StripSignature(%q) = %q, want %q", tt.name, text, got, want)
			}
		})
	}
}
