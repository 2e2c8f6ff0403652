// Command fakeruntime stands in for the tenant runtime in devnode's tests: it
// listens where the runtime would, is ready only once its Vault token has
// been written, and reports what the dev node gave it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func token() string {
	b, err := os.ReadFile(os.Getenv("SWITCHBOARD_VAULT_TOKEN_PATH"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if token() == "" {
			http.Error(w, "no token yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a stream that never ends by itself
	})
	mux.HandleFunc("/crash", func(http.ResponseWriter, *http.Request) { os.Exit(3) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t := token()
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"workspace":   os.Getenv("SWITCHBOARD_WORKSPACE"),
			"tokenPrefix": t[:min(10, len(t))],
			"host":        r.Host,
			"pid":         os.Getpid(),
			"env":         env,
		})
	})
	srv := &http.Server{Addr: os.Getenv("SWITCHBOARD_LISTEN_ADDR"), Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
