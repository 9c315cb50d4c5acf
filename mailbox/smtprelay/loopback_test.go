package smtprelay

import "testing"

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"[::1]", true},
		{"localhost", true},
		{"LocalHost.", true},
		{"10.0.0.1", false},
		{"smtp.example.com", false},
		{"localhost.example.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isLoopback(tt.host); got != tt.want {
			t.Errorf("isLoopback(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestPort(t *testing.T) {
	tests := []struct {
		r    Relay
		want int
	}{
		{Relay{}, 587},
		{Relay{Security: StartTLSOptional}, 587},
		{Relay{Security: ImplicitTLS}, 465},
		{Relay{Security: NoTLS}, 25},
		{Relay{Security: ImplicitTLS, Port: 2465}, 2465},
	}
	for _, tt := range tests {
		if got := tt.r.port(); got != tt.want {
			t.Errorf("Relay{Security: %q, Port: %d}.port() = %d, want %d", tt.r.Security, tt.r.Port, got, tt.want)
		}
	}
}
