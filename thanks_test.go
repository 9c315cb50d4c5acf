package helpmail

import "testing"

func TestIsThanks(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"Thanks!", true},
		{"Thank you so much, it works now.", true},
		{"thx", true},
		{"Merci beaucoup", true},
		{"Merci, ça marche !", true},
		{"Super, merci pour votre aide.\n\nCordialement,\nJean Dupont", true},
		{"Bedankt", true},
		{"Bedankt, het werkt nu!\nGroeten, Piet", true},
		{"Hartelijk dank voor de snelle reactie", true},
		{"Thanks, but it still fails.", false},
		{"Thanks. Can you also reset my password?", false},
		{"Merci, mais le problème persiste.", false},
		{"Bedankt, maar het werkt nog niet.", false},
		{"The export is broken again after the update.", false},
		{"", false},
		{"Thanks for the fix. However the export now shows an error when I open the report from the dashboard and the numbers are wrong.", false},
	}
	for _, tt := range tests {
		if got := IsThanks(tt.in); got != tt.want {
			t.Errorf("IsThanks(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
