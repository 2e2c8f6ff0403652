package auth

import (
	"testing"
	"time"
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

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(3, time.Minute)
	l.Now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allowed("ip"); !ok {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail("ip")
	}
	if ok, wait := l.Allowed("ip"); ok || wait != time.Minute {
		t.Fatalf("allowed = %v, wait = %v", ok, wait)
	}
	if ok, _ := l.Allowed("other"); !ok {
		t.Fatal("keys are independent")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.Allowed("ip"); !ok {
		t.Fatal("the window slides")
	}
	l.Fail("ip")
	l.Reset("ip")
	if ok, _ := l.Allowed("ip"); !ok {
		t.Fatal("reset")
	}
}
