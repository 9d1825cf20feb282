package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// state is what a running stack tells pay and mine, in .cache/dev/state.json
// (mode 0600: it holds the node's RPC password and the API key).
type state struct {
	PID           int    `json:"pid"`
	TransientdURL string `json:"transientd_url"`
	APIKey        string `json:"api_key"`
	NodeRPCURL    string `json:"node_rpc_url"`
	MinerRPCURL   string `json:"miner_rpc_url"`
}

// writeState writes st to path atomically.
func writeState(path string, st state) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readState reads the state file at path.
func readState(path string) (state, error) {
	var st state
	data, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// runningState returns the state of the running stack, or an error saying
// that none runs and how to start one.
func runningState() (state, error) {
	root, err := repoRoot()
	if err != nil {
		return state{}, err
	}
	path := devFiles(root).state()
	st, err := readState(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		rel, _ := filepath.Rel(root, path)
		return st, fmt.Errorf("the dev stack is not running (no %s): start it with make run", rel)
	case err != nil:
		return st, err
	case !processAlive(st.PID):
		return st, fmt.Errorf("the dev stack is not running (its state file is left over from pid %d): start it with make run", st.PID)
	}
	return st, nil
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
