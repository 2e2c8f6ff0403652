package crm

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkImportContacts imports a file of new contacts (each with a
// company, a tag and a custom attribute) into a database that already holds
// earlier imports. Run: go test -bench ImportContacts -benchtime 3x ./runtime/internal/crm/
func BenchmarkImportContacts(b *testing.B) {
	const rows = 5000
	svc, actor := newService(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var sb strings.Builder
		sb.WriteString("name,email,phone,company,tags,plan\n")
		for r := 0; r < rows; r++ {
			fmt.Fprintf(&sb, "Person %d-%d,p%d-%d@example.com,+1555%03d%04d,Company %d,vip,pro\n", i, r, i, r, i%1000, r, r%50)
		}
		rep, err := svc.ImportContacts(ctx, actor, strings.NewReader(sb.String()))
		if err != nil || rep.Created != rows {
			b.Fatalf("import: %+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
