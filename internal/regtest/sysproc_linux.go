package regtest

import "syscall"

// sysProcAttr makes the kernel kill litecoind when the process that started
// it dies, so a crashed test binary or dev tool leaves no node behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
