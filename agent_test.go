package helpmail

import "testing"

func TestAuthenticated(t *testing.T) {
	trusted := []string{"mx.example.com"}
	tests := []struct {
		name   string
		fields []string
		domain string
		want   bool
	}{
		{"dkim aligned", []string{"mx.example.com; dkim=pass header.d=example.com header.s=sel; spf=fail"}, "example.com", true},
		{"spf aligned", []string{"mx.example.com; spf=pass smtp.mailfrom=alice@example.com"}, "example.com", true},
		{"dmarc", []string{"mx.example.com 1; dmarc=pass (p=reject) header.from=example.com"}, "example.com", true},
		{"subdomain relaxed", []string{"mx.example.com; dkim=pass header.d=example.com"}, "mail.example.com", true},
		{"untrusted authserv-id", []string{"evil.example; dkim=pass header.d=example.com"}, "example.com", false},
		{"not aligned", []string{"mx.example.com; dkim=pass header.d=other.example"}, "example.com", false},
		{"fail", []string{"mx.example.com; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=example.com"}, "example.com", false},
		{"comment hides semicolon", []string{"mx.example.com; dkim=pass (good; really) header.d=example.com"}, "example.com", true},
		{"none", nil, "example.com", false},
		{"garbage", []string{";;;==="}, "example.com", false},
	}
	for _, tt := range tests {
		if got := authenticated(tt.fields, trusted, tt.domain) != ""; got != tt.want {
			t.Errorf("%s: authenticated(%q) = %v, want %v", tt.name, tt.fields, got, tt.want)
		}
	}
}
