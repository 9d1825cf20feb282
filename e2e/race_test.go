//go:build race

package e2e

// raceEnabled builds the daemon with the race detector when the tests run
// with it, so a data race in a real process fails the run too.
const raceEnabled = true
