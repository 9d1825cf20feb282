package payments

import (
	"context"
	"errors"
	"testing"
)

// TestCreateToleranceOutOfRange checks that a per-payment tolerance outside
// 0..10000 basis points is refused before anything is asked or stored.
func TestCreateToleranceOutOfRange(t *testing.T) {
	s := NewService(nil, Config{Coins: []Coin{{Code: "LTC", Confirmations: 1}}})
	for _, bp := range []int64{-1, 10_001} {
		_, err := s.Create(context.Background(), CreateRequest{Coin: "LTC", Amount: 1, ToleranceBP: &bp})
		var e *Error
		if !errors.As(err, &e) || e.Field != "tolerance" {
			t.Errorf("ToleranceBP %d: %v, want an *Error on tolerance", bp, err)
		}
	}
}
