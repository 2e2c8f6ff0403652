// Command vault is HashiCorp Vault v1.14.2 (MPL-2.0), built from the released
// Go modules for tests and `make dev` only. Production users bring their own.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
