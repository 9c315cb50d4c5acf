package helpmail

import (
	"strings"
	"unicode"
)

// thanksWords are the words that make a message a thank-you, in English,
// French and Dutch (plus German, which Belgian and Dutch customers use).
var thanksWords = map[string]bool{
	"thanks": true, "thank": true, "thx": true, "ty": true, "cheers": true, "thankyou": true,
	"merci": true, "remercie": true, "remerciements": true,
	"bedankt": true, "dank": true, "dankjewel": true, "dankuwel": true, "bedank": true,
	"danke": true,
}

// fillerWords may surround the thanks without making the message more than
// thanks: greetings, intensifiers, "it works now", sign-offs.
var fillerWords = map[string]bool{
	// English
	"you": true, "so": true, "much": true, "very": true, "a": true, "lot": true, "many": true,
	"great": true, "perfect": true, "ok": true, "okay": true, "super": true, "all": true, "works": true,
	"working": true, "now": true, "it": true, "for": true, "the": true, "help": true, "your": true,
	"again": true, "hi": true, "hello": true, "best": true, "regards": true, "kind": true, "awesome": true,
	"that": true, "fixed": true, "solved": true, "did": true, "trick": true, "fine": true, "everything": true,
	"is": true, "quick": true, "reply": true, "response": true, "support": true, "team": true, "guys": true,
	"appreciated": true, "excellent": true, "brilliant": true, "cool": true,
	"good": true, "nice": true, "wonderful": true, "and": true, "have": true, "day": true, "weekend": true,
	"to": true, "too": true, "both": true, "of": true, "sent": true, "from": true, "my": true, "iphone": true,
	// French
	"beaucoup": true, "bien": true, "à": true, "vous": true, "pour": true, "votre": true, "aide": true,
	"ça": true, "ca": true, "marche": true, "fonctionne": true, "parfait": true, "génial": true,
	"bonjour": true, "bonsoir": true, "cordialement": true, "encore": true, "mille": true, "fois": true,
	"infiniment": true, "toi": true, "tout": true, "est": true, "top": true, "c": true,
	"réponse": true, "rapide": true, "bonne": true, "journée": true, "salutations": true, "de": true,
	"la": true, "le": true, "l": true, "équipe": true, "maintenant": true,
	// Dutch
	"wel": true, "je": true, "u": true, "hartelijk": true, "heel": true, "erg": true, "voor": true,
	"hulp": true, "het": true, "werkt": true, "nu": true, "prima": true, "hoi": true, "hallo": true,
	"dag": true, "groeten": true, "met": true, "vriendelijke": true, "groet": true, "alvast": true,
	"snelle": true, "reactie": true, "fijne": true, "mvg": true, "gr": true,
	"jullie": true, "allemaal": true, "opgelost": true, "dankzij": true,
	// German
	"vielen": true, "schön": true, "sehr": true, "gruß": true, "grüße": true,
}

// denyWords turn thanks into more: a problem persists, a new question.
var denyWords = map[string]bool{
	"not": true, "no": true, "but": true, "still": true, "however": true, "doesn": true, "don": true,
	"isn": true, "can": true, "cannot": true, "won": true, "again?": true, "problem": true, "issue": true, "error": true,
	"pas": true, "mais": true, "toujours": true, "encore?": true, "plus": true, "problème": true, "erreur": true,
	"niet": true, "maar": true, "geen": true, "probleem": true, "fout": true, "nog": true,
	"nicht": true, "aber": true, "noch": true,
}

// IsThanks reports whether a reply's new text is only thanks: short, no
// question, a thanks word, and nothing that says the problem persists.
// "Thanks!", "Merci beaucoup", "Bedankt, het werkt nu" are thanks; "Thanks,
// but it still fails" and "Thanks. Can you also…?" are not. A reply of at
// most two other words (a signature name) still counts.
func IsThanks(text string) bool {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > 200 || strings.Contains(text, "?") {
		return false
	}
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) == 0 || len(words) > 16 {
		return false
	}
	thanks, other := false, 0
	for _, w := range words {
		switch {
		case denyWords[w]:
			return false
		case thanksWords[w]:
			thanks = true
		case fillerWords[w]:
		default:
			other++
		}
	}
	return thanks && other <= 2
}
