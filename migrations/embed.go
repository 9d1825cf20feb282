// Package migrations holds Transient's SQL schema as goose migrations,
// embedded in the binary.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
