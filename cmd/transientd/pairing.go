package main

import (
	"context"
	"errors"
	"io"
)

// pairingCommand runs `transientd pairing create | list | approve`. (Being
// built.)
func pairingCommand(_ context.Context, _ []string, _ func(string) string, _, _ io.Writer) error {
	return errors.New("pairing: not built yet")
}
