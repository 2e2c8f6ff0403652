// Package cli is the operator binary's `switchboard backup` command, for a
// person who holds a backup artifact and Vault access: an operator restoring
// by hand, or an auditor checking that a shredded backup is unreadable.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
	"github.com/switchboard-dev/switchboard/controllers/cliutil"
	"github.com/switchboard-dev/switchboard/controllers/vault"
)

const usage = `usage: switchboard backup decrypt --in FILE --out FILE [--transit-mount transit]

Decrypts a Switchboard backup artifact (docs/backup-format.md) to the
pg_dump -Fc archive it holds. Vault unwraps the artifact's data key with the
transit key its header names; the Vault client reads VAULT_ADDR and
VAULT_TOKEN (and VAULT_CACERT and the other usual VAULT_* settings).

FILE may be "-" for standard input or output. A file output appears only
once the whole artifact is authenticated; standard output may already hold
part of the plaintext when decryption fails, and the exit status says so.
`

// Main runs `switchboard backup` with args (what follows "backup") and
// returns the exit status: 0 on success, 1 on failure, 2 on misuse.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
}

// Run is Main with its environment given.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "decrypt" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("switchboard backup decrypt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	in := fs.String("in", "", "the artifact, or - for standard input")
	out := fs.String("out", "", "where to write the plaintext, or - for standard output")
	mount := fs.String("transit-mount", "transit", "the Vault transit mount that holds the artifact's key")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *in == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	addr, token := getenv("VAULT_ADDR"), getenv("VAULT_TOKEN")
	if addr == "" || token == "" {
		fmt.Fprintln(stderr, "switchboard backup decrypt: set VAULT_ADDR and VAULT_TOKEN")
		return 2
	}
	vc, err := vault.New(vault.Config{Address: addr, Token: token, TransitMount: *mount}, nil)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard backup decrypt: "+err.Error())
		return 1
	}
	d := decryption{vault: vc, stdin: stdin, stdout: stdout}
	n, h, err := d.run(ctx, *in, *out)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard backup decrypt: "+err.Error())
		return 1
	}
	fmt.Fprintf(stderr, "decrypted %d bytes, taken %s, key %s version %d\n",
		n, h.Created.Format("2006-01-02T15:04:05Z"), h.TransitKey, h.KeyVersion)
	return 0
}

type decryption struct {
	vault  *vault.Client
	stdin  io.Reader
	stdout io.Writer
}

func (d decryption) run(ctx context.Context, inPath, outPath string) (int64, artifact.Header, error) {
	in := d.stdin
	if inPath != "-" {
		f, err := os.Open(inPath)
		if err != nil {
			return 0, artifact.Header{}, err
		}
		defer f.Close()
		in = f
	}
	h, err := artifact.ReadHeader(in)
	if err != nil {
		return 0, h, fmt.Errorf("reading %s: %w", inPath, err)
	}
	key, err := d.vault.UnwrapKey(ctx, h.TransitKey, h.WrappedKey)
	if errors.Is(err, vault.ErrKeyShredded) {
		return 0, h, fmt.Errorf("transit key %s is gone, so this backup was crypto-shredded and cannot be decrypted: %w", h.TransitKey, err)
	}
	if err != nil {
		return 0, h, err
	}
	rd, err := artifact.NewReader(in, h, key)
	clear(key)
	if err != nil {
		return 0, h, fmt.Errorf("opening %s: %w", inPath, err)
	}
	if outPath == "-" {
		n, err := io.Copy(d.stdout, rd)
		if err != nil {
			return n, h, fmt.Errorf("decrypting %s (standard output holds a partial, unusable plaintext): %w", inPath, err)
		}
		return n, h, nil
	}
	// The output appears only once the whole artifact is authenticated: a
	// damaged one leaves no partial plaintext behind.
	n, err := cliutil.WriteWhole(outPath, func(w io.Writer) error { _, err := io.Copy(w, rd); return err })
	if err != nil {
		return n, h, fmt.Errorf("decrypting %s: %w", inPath, err)
	}
	return n, h, nil
}
