package store

import "testing"

// TestPartSizes: every part is within S3's bounds (5 MiB to 5 GiB), and
// 10,000 of them hold an artifact of more than 2 TiB.
func TestPartSizes(t *testing.T) {
	var total int64
	for num := 1; num <= maxParts; num++ {
		size := partSizeFor(num)
		if size < 5<<20 || size > 5<<30 {
			t.Fatalf("part %d: %d bytes", num, size)
		}
		if num > 1 && size < partSizeFor(num-1) {
			t.Fatalf("part %d is smaller than part %d", num, num-1)
		}
		total += int64(size)
	}
	if total < 2<<40 {
		t.Errorf("10,000 parts hold %d bytes, want more than 2 TiB", total)
	}
	t.Logf("largest object: %.2f TiB; largest part: %d MiB", float64(total)/(1<<40), partSizeFor(maxParts)>>20)
}

func TestRedact(t *testing.T) {
	r := newRedactor(Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cr3tvalue", SessionToken: "tok"})
	got := r.redact("Credential=AKIAEXAMPLE/20261202 secret s3cr3tvalue token tok")
	if want := "Credential=[REDACTED]/20261202 secret [REDACTED] token tok"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
}
