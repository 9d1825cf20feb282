//go:build !linux

package regtest

import "syscall"

// sysProcAttr returns nil: the parent-death signal exists only on Linux, so
// elsewhere a node outlives a crashed parent until stopped.
func sysProcAttr() *syscall.SysProcAttr { return nil }
