package auth

import (
	"testing"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		r, min Role
		want   bool
	}{
		{Owner, Admin, true}, {Admin, Admin, true}, {Agent, Admin, false}, {Viewer, Agent, false},
		{Agent, Viewer, true}, {"root", Viewer, false}, {Owner, "root", false},
	}
	for _, tt := range tests {
		if got := tt.r.AtLeast(tt.min); got != tt.want {
			t.Errorf("%s.AtLeast(%s) = %v", tt.r, tt.min, got)
		}
	}
}

func TestPasswords(t *testing.T) {
	if _, err := HashPassword("short"); err != ErrWeakPassword {
		t.Fatal("short passwords must be refused")
	}
	long := make([]byte, 73)
	for i := range long {
		long[i] = 'a'
	}
	if _, err := HashPassword(string(long)); err != ErrWeakPassword {
		t.Fatal("passwords bcrypt would truncate must be refused")
	}
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "correct horse battery") || CheckPassword(h, "correct horse battery!") || CheckPassword("", "x") {
		t.Fatal("check")
	}
}

func TestTokens(t *testing.T) {
	a, ha := NewToken("sbt_")
	b, _ := NewToken("sbt_")
	if a == b || len(a) < 40 || string(HashToken(a)) != string(ha) {
		t.Fatal("tokens")
	}
}
