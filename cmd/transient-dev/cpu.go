package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux this runs on).
const clockTick = 10 * time.Millisecond

// cpuTimes is the CPU time (user + system) spent so far by the processes a
// request crosses on this machine: the load generator (this process),
// transientd, the PostgreSQL backends serving the run's database, each by
// process id, and the node (litecoind). On a machine whose cores are all busy the rates measured
// are set by these sums, so they say where a limit comes from.
type cpuTimes struct {
	client   time.Duration
	daemon   time.Duration
	node     time.Duration
	backends map[int]time.Duration
}

// cpuNow samples the CPU times of the client, transientd and the run's
// PostgreSQL backends. Processes it cannot read count for nothing.
func (b *benchRun) cpuNow(ctx context.Context) cpuTimes {
	var t cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	t.daemon, _ = procCPU(b.stack.daemon.cmd.Process.Pid)
	if pid := b.stack.node.PID(); pid != 0 {
		t.node, _ = procCPU(pid)
	}
	t.backends = map[int]time.Duration{}
	rows, err := b.db.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return t
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			if d, err := procCPU(pid); err == nil {
				t.backends[pid] = d
			}
		}
	}
	return t
}

// cpuPerOp is the CPU time each part spent per operation between two
// samples.
type cpuPerOp struct {
	client, daemon, postgres, node time.Duration
}

// since returns the CPU per operation from start to t over n operations.
// Backends that appeared since start count from zero; backends that
// exited in between are lost (pooled connections rarely do).
func (t cpuTimes) since(start cpuTimes, n int) cpuPerOp {
	if n <= 0 {
		return cpuPerOp{}
	}
	var pg time.Duration
	for pid, d := range t.backends {
		pg += d - start.backends[pid]
	}
	per := func(d time.Duration) time.Duration { return d / time.Duration(n) }
	return cpuPerOp{client: per(t.client - start.client), daemon: per(t.daemon - start.daemon), postgres: per(pg),
		node: per(t.node - start.node)}
}

func (c cpuPerOp) total() time.Duration { return c.client + c.daemon + c.postgres + c.node }

// minus returns c - d, part by part.
func (c cpuPerOp) minus(d cpuPerOp) cpuPerOp {
	return cpuPerOp{client: c.client - d.client, daemon: c.daemon - d.daemon, postgres: c.postgres - d.postgres, node: c.node - d.node}
}

// times returns c with every part multiplied by n.
func (c cpuPerOp) times(n int) cpuPerOp {
	m := time.Duration(n)
	return cpuPerOp{client: c.client * m, daemon: c.daemon * m, postgres: c.postgres * m, node: c.node * m}
}

// perN returns c, a total, per operation of n.
func (c cpuPerOp) perN(n int) cpuPerOp {
	if n <= 0 {
		return cpuPerOp{}
	}
	m := time.Duration(n)
	return cpuPerOp{client: c.client / m, daemon: c.daemon / m, postgres: c.postgres / m, node: c.node / m}
}

// cpuSum reads c, a total, in milliseconds: "load generator 40 ms + ...
// = 160 ms".
func cpuSum(c cpuPerOp) string {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" }
	return "load generator " + ms(c.client) + " + transientd " + ms(c.daemon) + " + PostgreSQL " + ms(c.postgres) +
		" + node " + ms(c.node) + " = " + ms(c.total())
}

func us(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + " µs" }

// String reads "load generator 40 µs + transientd 90 µs + PostgreSQL 30 µs
// + node 0 µs = 160 µs".
func (c cpuPerOp) String() string {
	return "load generator " + us(c.client) + " + transientd " + us(c.daemon) + " + PostgreSQL " + us(c.postgres) +
		" + node " + us(c.node) + " = " + us(c.total())
}

// procCPU returns the user + system CPU time of process pid, from
// /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime or stime", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}
