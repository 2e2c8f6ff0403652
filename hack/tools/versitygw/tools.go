//go:build tools

// Package tools pins the versitygw command (an S3 gateway onto a POSIX
// folder), which hack/build-tools.sh builds into bin/ so that the backup
// store tests run against a real S3 server with no prebuilt download.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
