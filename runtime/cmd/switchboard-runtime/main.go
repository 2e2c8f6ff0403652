// Command switchboard-runtime is the tenant app: the shared inbox, CRM and
// team of one workspace. The operator runs one per Workspace; its
// configuration is the environment (see runtime/internal/config), its
// secrets come from Vault.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard-dev/switchboard/runtime/internal/app"
	"github.com/switchboard-dev/switchboard/runtime/internal/config"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-runtime: "+err.Error())
		os.Exit(2)
	}
	if err := startPprof(log); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-runtime: "+err.Error())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.Start(ctx, cfg, log.With("workspace", cfg.Workspace))
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-runtime: "+err.Error())
		os.Exit(1)
	}
	if err := a.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-runtime: "+err.Error())
		os.Exit(1)
	}
}
