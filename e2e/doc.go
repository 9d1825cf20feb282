// Package e2e holds Transient's end-to-end tests: they build the real
// binaries (transientd, notify-tx, notify-block), run them as processes
// against a real PostgreSQL and a real litecoind in regtest, kill and
// restart them, and check what a shop would see over HTTP and through its
// webhook receiver.
package e2e
