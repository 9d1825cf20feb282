package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cluster is a throwaway PostgreSQL server a test starts, stops and starts
// again itself, from the installed binaries (as scripts/postgres.sh finds
// them), never the machine's shared server.
type cluster struct {
	t      *testing.T
	bin    string // directory of initdb and pg_ctl
	data   string
	port   int
	asUser string // "postgres" when running as root: PostgreSQL refuses root
}

// pgBinDir returns the newest /usr/lib/postgresql/*/bin holding pg_ctl,
// else the directory of pg_ctl on PATH.
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("pg_ctl")
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL binaries (pg_ctl) installed: apt-get install -y postgresql")
	}
	return filepath.Dir(p), nil
}

// startCluster creates and starts a throwaway cluster on a free port,
// stopped and deleted when the test ends.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "transient-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: bin, data: filepath.Join(dir, "data")}
	port, _ := strconv.Atoi(strings.TrimPrefix(freeAddr(t), "127.0.0.1:"))
	c.port = port
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres OS user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop")
		_ = os.RemoveAll(dir)
	})
	if err := c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatal(err)
	}
	c.start()
	return c
}

// run runs a PostgreSQL program as the cluster's user.
func (c *cluster) run(name string, args ...string) error {
	prog := filepath.Join(c.bin, name)
	cmd := exec.Command(prog, args...)
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", prog}, args...)...)
	}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// url is the cluster's superuser URL.
func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// start starts the server and waits until it accepts connections.
func (c *cluster) start() {
	c.t.Helper()
	// fsync may be off (the machine does not crash, only the server), but
	// synchronous_commit may not: with it off an immediate stop loses
	// commits the gateway already answered for (payments a shop was given).
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories='' "+
		"-c max_connections=200 -c fsync=off -c full_page_writes=off", c.port)
	if err := c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(filepath.Dir(c.data), "postgres.log"),
		"-w", "-t", "60", "-o", opts, "start"); err != nil {
		c.t.Fatal(err)
	}
}

// crash stops the server the way a crash would (immediate shutdown: no
// checkpoint, every connection cut) and returns how long it took.
func (c *cluster) crash() time.Duration {
	c.t.Helper()
	start := time.Now()
	if err := c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop"); err != nil {
		c.t.Fatal(err)
	}
	return time.Since(start)
}
