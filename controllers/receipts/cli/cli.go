// Package cli is the operator binary's `switchboard receipts` command, for
// an auditor or an operator: it verifies the receipt chain of destructive
// acts, or exports it as JSON (docs/receipts.md).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/switchboard-dev/switchboard/controllers/cliutil"
	"github.com/switchboard-dev/switchboard/controllers/receipts"
)

const usage = `usage: switchboard receipts verify [--namespace NS] [--kubeconfig PATH] [--json]
       switchboard receipts verify --file EXPORT [--json]
       switchboard receipts export [--namespace NS] [--kubeconfig PATH] [--out FILE]

verify walks the receipt chain from entry 1, recomputes every entry's
SHA-256 and its link to the one before, and compares the end with
receipts-head. It exits 0 on a verified chain and 1 naming the first
broken link (or on a failure to read). With --file it verifies an export
instead; an export has no head, so compare its last entry and hash with
those of an earlier verification.

export writes the whole chain as a JSON array, one entry per line, each
exactly as stored (docs/receipts.md says how to verify it by hand).

NS is the operator's --receipts-namespace: by default $POD_NAMESPACE, else
switchboard-system. PATH defaults to $KUBECONFIG, then ~/.kube/config, then
the in-cluster configuration. Reading needs get and list on ConfigMaps in NS.
`

// Main runs `switchboard receipts` with args (what follows "receipts") and
// returns the exit status: 0 on success, 1 on a broken chain or a failure,
// 2 on misuse.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

// Run is Main with its environment given.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet("switchboard receipts "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	defaultNS := getenv("POD_NAMESPACE")
	if defaultNS == "" {
		defaultNS = "switchboard-system"
	}
	namespace := fs.String("namespace", defaultNS, "the namespace of the receipt log (the operator's --receipts-namespace)")
	kubeconfig := fs.String("kubeconfig", "", "the kubeconfig to use")
	var file, out *string
	var asJSON *bool
	if cmd == "verify" {
		file = fs.String("file", "", "verify this export instead of the cluster's chain")
		asJSON = fs.Bool("json", false, "print the report as JSON")
	} else {
		out = fs.String("out", "-", "where to write the export, or - for standard output")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "switchboard receipts %s: %v\n", cmd, err)
		return 1
	}

	if cmd == "verify" && *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		rep, err := receipts.VerifyExport(f)
		if err != nil {
			return fail(err)
		}
		return report(rep, *file, *asJSON, stdout, stderr)
	}

	log, err := open(*kubeconfig, *namespace, getenv)
	if err != nil {
		return fail(err)
	}
	if cmd == "verify" {
		rep, err := log.Verify(ctx)
		if err != nil {
			return fail(err)
		}
		return report(rep, "namespace "+*namespace, *asJSON, stdout, stderr)
	}
	if *out == "-" {
		if err := log.Export(ctx, stdout); err != nil {
			return fail(err)
		}
		return 0
	}
	if _, err := cliutil.WriteWhole(*out, func(w io.Writer) error { return log.Export(ctx, w) }); err != nil {
		return fail(err)
	}
	return 0
}

// open connects to the cluster with the kubeconfig the flags and the
// environment name.
func open(kubeconfig, namespace string, getenv func(string) string) (*receipts.Log, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.Precedence = filepath.SplitList(getenv("KUBECONFIG"))
	if len(rules.Precedence) == 0 {
		if home := getenv("HOME"); home != "" {
			rules.Precedence = []string{filepath.Join(home, ".kube", "config")}
		}
	}
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes configuration: %w", err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, err
	}
	return receipts.New(c, namespace, receipts.Options{}), nil
}

// report prints a verification and returns the exit status.
func report(rep receipts.Report, source string, asJSON bool, stdout, stderr io.Writer) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	}
	if !rep.OK() {
		fmt.Fprintf(stderr, "switchboard receipts verify: the chain in %s is broken at entry %d: %s: %s\n(%d entries before it verified)\n",
			source, rep.Broken.Seq, rep.Broken.Reason, rep.Broken.Detail, rep.Entries)
		return 1
	}
	if asJSON {
		return 0
	}
	switch {
	case rep.Entries == 0:
		fmt.Fprintf(stdout, "the chain in %s is empty\n", source)
	default:
		fmt.Fprintf(stdout, "the chain in %s verified: %d entries; entry %d has hash %s\n", source, rep.Entries, rep.Entries, rep.LastHash)
	}
	if rep.Pending {
		fmt.Fprintf(stdout, "entry %d is written but %s does not point at it yet: an append in flight, which the next append completes\n",
			rep.Entries, receipts.HeadName)
	}
	return 0
}
