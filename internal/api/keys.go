package api

import "context"

// AnyKey is a KeyChecker that accepts a key when one of its checkers does,
// asking them in order and stopping at the first that accepts. Put the
// cheap ones first: the daemon checks the API_KEYS setting (in memory)
// before the keys stored in the database. When no checker accepts and one
// failed, the failure is returned: the answer is then unknown, not no.
type AnyKey []KeyChecker

// CheckKey implements KeyChecker.
func (a AnyKey) CheckKey(ctx context.Context, key string) (bool, error) {
	var firstErr error
	for _, c := range a {
		ok, err := c.CheckKey(ctx, key)
		if ok {
			return true, nil
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return false, firstErr
}
