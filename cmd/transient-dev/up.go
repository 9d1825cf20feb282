package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// up runs the stack in a child process of its own process group and turns
// Ctrl-C into an orderly stop.
//
// Ctrl-C sends SIGINT to every process of the terminal's foreground process
// group. Were litecoind and transientd in it, each would stop on its own, in
// no particular order. In a group of their own they hear only the stack
// process, which stops transientd first, then litecoind, then PostgreSQL. The
// stack process gets SIGTERM if this one dies (Pdeathsig), and its children
// die with it in turn.
func up(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("up takes no arguments (got %q); set PORT to choose transientd's port", args)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "stack")
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the stack: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err = <-exited:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-exited
	}
	if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
		return errReported // the stack printed why
	}
	return err
}
