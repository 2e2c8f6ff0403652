package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a child that dies with its parent.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    *LockedBuffer
}

// LockedBuffer collects a process's output (its last MiB or so) while a
// test reads it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // keep the tail only
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startProcess(cmd *exec.Cmd, cred *syscall.Credential) (*process, error) {
	p := &process{cmd: cmd, exited: make(chan struct{}), log: &LockedBuffer{}}
	if cmd.Stdout == nil {
		cmd.Stdout = p.log
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.log
	}
	// Pdeathsig ends the child if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop sends sig and waits; after timeout it kills the process group.
func (p *process) stop(sig os.Signal, timeout time.Duration) {
	if p == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// Process is a tool from bin/ running as a child of this process.
type Process struct {
	Name string
	p    *process
}

// StartBinary starts bin/<name> with args; its output goes to logFile (or is
// kept in memory when logFile is empty).
func StartBinary(name, logFile string, args ...string) (*Process, error) {
	bin, err := Bin(name)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = f, f
	}
	p, err := startProcess(cmd, nil)
	if err != nil {
		return nil, err
	}
	return &Process{Name: name, p: p}, nil
}

// Stop ends the process: SIGTERM, then SIGKILL after 10 s.
func (p *Process) Stop() {
	if p != nil {
		p.p.stop(syscall.SIGTERM, 10*time.Second)
	}
}

// Exited is closed when the process ends.
func (p *Process) Exited() <-chan struct{} { return p.p.exited }
