package inbox

import (
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"message.created"}`)
	sig := Sign("whsec_a", now, body)
	tests := []struct {
		name    string
		secret  string
		header  string
		body    []byte
		at      time.Time
		wantErr string
	}{
		{"valid", "whsec_a", sig, body, now, ""},
		{"valid among several v1", "whsec_a", "t=1800000000,v1=00ff," + strings.Split(sig, ",")[1], body, now, ""},
		{"forged secret", "whsec_b", sig, body, now, "mismatch"},
		{"tampered body", "whsec_a", sig, []byte(`{"type":"x"}`), now, "mismatch"},
		{"too old", "whsec_a", sig, body, now.Add(6 * time.Minute), "tolerance"},
		{"from the future", "whsec_a", sig, body, now.Add(-6 * time.Minute), "tolerance"},
		{"malformed", "whsec_a", "v1=abc", body, now, "malformed"},
		{"empty", "whsec_a", "", body, now, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.body, tt.at, 5*time.Minute)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("t=1800000000,v1=abc", []byte("{}"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		_ = Verify("whsec_a", header, body, time.Unix(1_800_000_000, 0), 5*time.Minute)
	})
}
