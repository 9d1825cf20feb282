package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The report's sections: the latest run, then the run before it.
const (
	benchDocHead = `# Benchmarks

Written by ` + "`make bench`" + ` (` + "`bin/transient-dev bench`" + `): it starts the local stack (the same
code as ` + "`make run`" + `: PostgreSQL, litecoind in regtest, transientd, a webhook receiver) and measures
each figure beside the limit of the part that bounds it, with the same load generator in the same
run, because absolute numbers on a shared machine move from run to run; the ratio is what to compare.
The README ("Performance") says where each limit comes from. Each run moves the previous run's
section below the new one.
`
	latestHeading   = "## Latest run"
	previousHeading = "## Previous run"
)

// writeBenchDoc writes the report of b to path, keeping the latest run
// already there as the previous one.
func writeBenchDoc(path string, b *benchRun, command string) error {
	var previous string
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		previous = section(string(old), latestHeading)
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	var sb strings.Builder
	sb.WriteString(benchDocHead)
	fmt.Fprintf(&sb, "\n%s\n\n", latestHeading)
	fmt.Fprintf(&sb, "- date: %s (took %s)\n", b.began.UTC().Format(time.RFC3339), time.Since(b.began).Round(time.Second))
	fmt.Fprintf(&sb, "- machine: %s\n", machine())
	if rev := gitRevision(); rev != "" {
		fmt.Fprintf(&sb, "- code: %s\n", rev)
	}
	fmt.Fprintf(&sb, "- command: `%s`\n\n", command)
	sb.WriteString(b.table())
	if previous != "" {
		fmt.Fprintf(&sb, "\n%s\n%s", previousHeading, previous)
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// section returns the body of the section under heading, up to the next
// "## " heading.
func section(doc, heading string) string {
	_, body, ok := strings.Cut(doc, heading+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(body, "\n## "); i >= 0 {
		body = body[:i+1]
	}
	return body
}

// gitRevision names the code measured: the commit, and whether the work
// tree had changes.
func gitRevision() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
