package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// EnvPprofAddr turns on Go's profiling endpoints (/debug/pprof/) on a
// loopback address of their own, for benchmarks (bench/runtime -profile)
// and local debugging. It is off unless set, and the operator never sets
// it: profiles show request paths and timing, so they are never served on
// the application's listener or a non-loopback address.
const EnvPprofAddr = "SWITCHBOARD_DEBUG_PPROF_ADDR"

// startPprof serves the profiling endpoints when EnvPprofAddr names a
// loopback address.
func startPprof(log *slog.Logger) error {
	addr := os.Getenv(EnvPprofAddr)
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s %q: want a loopback host:port such as 127.0.0.1:6060", EnvPprofAddr, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", EnvPprofAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Warn("profiling endpoints are on; unset "+EnvPprofAddr+" outside benchmarks", "addr", ln.Addr().String())
	go func() { _ = srv.Serve(ln) }()
	return nil
}
