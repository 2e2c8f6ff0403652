package postgres

import (
	"strings"
	"testing"
)

func TestSCRAMVerifier(t *testing.T) {
	// Fixed salt: the verifier is a pure function of password and salt.
	salt := []byte("0123456789abcdef")
	v, err := scramVerifierWithSalt("pencil", salt)
	if err != nil {
		t.Fatal(err)
	}
	want := "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"
	if !strings.HasPrefix(v, want) {
		t.Fatalf("verifier %q does not start with %q", v, want)
	}
	if strings.ContainsAny(v, "'\\ ") {
		t.Fatalf("verifier %q must be safe inside a quoted literal", v)
	}
	again, _ := scramVerifierWithSalt("pencil", salt)
	other, _ := scramVerifierWithSalt("pencil2", salt)
	if again != v || other == v {
		t.Fatal("verifier must depend on the password only, given the salt")
	}
}

func TestTenantDSN(t *testing.T) {
	tests := []struct {
		admin, want string
	}{
		{"postgres://admin:pw@db.eu:5432/postgres?sslmode=require", "postgres://ws_acme:p%40ss@db.eu:5432/ws_acme?sslmode=require"},
		{"host=db.us port=6432 user=admin password=pw dbname=postgres sslmode=verify-full", "postgres://ws_acme:p%40ss@db.us:6432/ws_acme?sslmode=verify-full"},
	}
	for _, tt := range tests {
		got, err := tenantDSN(tt.admin, "ws_acme", "p@ss")
		if err != nil || got != tt.want {
			t.Errorf("tenantDSN(%q) = %q, %v; want %q", tt.admin, got, err, tt.want)
		}
	}
}

func TestRandomPassword(t *testing.T) {
	a, _ := RandomPassword()
	b, _ := RandomPassword()
	if a == b || len(a) < 40 {
		t.Fatalf("passwords %q %q", a, b)
	}
}
