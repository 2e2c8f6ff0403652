// Package migrations holds the runtime's schema as numbered goose migrations,
// embedded in the binary and applied at start.
package migrations

import "embed"

// FS holds the .sql migrations.
//
//go:embed *.sql
var FS embed.FS
