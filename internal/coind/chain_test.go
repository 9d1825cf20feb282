package coind

import (
	"testing"
	"time"
)

func TestConfirmationTime(t *testing.T) {
	tests := []struct {
		code string
		n    int64
		want time.Duration
	}{
		{"BTC", 6, time.Hour},
		{"LTC", 576, 24 * time.Hour},
		{"LTC", 577, 24*time.Hour + 150*time.Second},
		{"DOGE", 1440, 24 * time.Hour},
		{"DOGE", 0, 0},
		{"XYZ", 1000, 0}, // unknown coin: no estimate
	}
	for _, tt := range tests {
		if got := ConfirmationTime(tt.code, tt.n); got != tt.want {
			t.Errorf("ConfirmationTime(%s, %d) = %s, want %s", tt.code, tt.n, got, tt.want)
		}
	}
}
