package coind_test

import (
	"math"
	"strings"
	"testing"

	"github.com/transient-gateway/transient/internal/coind"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string // substring of the error; "" = no error
	}{
		// Values where int64(f*1e8) on a float64 is off by one (coind-regtest.md §8).
		{in: "0.1", want: 10_000_000},
		{in: "0.2", want: 20_000_000},
		{in: "0.3", want: 30_000_000},
		{in: "0.29", want: 29_000_000},
		{in: "0.57", want: 57_000_000},
		{in: "1.15", want: 115_000_000},
		{in: "0.00000001", want: 1},
		{in: "12345678.12345678", want: 1_234_567_812_345_678},
		// Above 2^53 base units, where float64 is no longer exact.
		{in: "90071992.54740993", want: 9_007_199_254_740_993},
		{in: "12345.67890000", want: 1_234_567_890_000},
		{in: "-12345.67890000", want: -1_234_567_890_000},
		{in: "-0.00000001", want: -1},
		{in: "-0", want: 0},
		{in: "0", want: 0},
		{in: "0.00000000", want: 0},
		{in: "007", want: 700_000_000},
		{in: "00.50000000", want: 50_000_000},
		{in: "92233720368.54775807", want: math.MaxInt64},
		{in: "-92233720368.54775808", want: math.MinInt64},
		{in: "500000", want: 50_000_000_000_000},

		{in: "92233720368.54775808", wantErr: "out of range"},
		{in: "-92233720368.54775809", wantErr: "out of range"},
		{in: "92233720369", wantErr: "out of range"},
		{in: "99999999999999999999999", wantErr: "out of range"},
		{in: "1.123456789", wantErr: "more than 8 decimals"},
		{in: "0.000000000", wantErr: "more than 8 decimals"},
		{in: "1e3", wantErr: "not a decimal number"},
		{in: "1E3", wantErr: "not a decimal number"},
		{in: "1.5e-8", wantErr: "not a decimal number"},
		{in: " 1", wantErr: "not a decimal number"},
		{in: "1 ", wantErr: "not a decimal number"},
		{in: "+1", wantErr: "not a decimal number"},
		{in: "", wantErr: "empty"},
		{in: "-", wantErr: "not a decimal number"},
		{in: "--1", wantErr: "not a decimal number"},
		{in: ".5", wantErr: "not a decimal number"}, // no digit before '.': refused, as in JSON
		{in: "-.5", wantErr: "not a decimal number"},
		{in: "5.", wantErr: "not a decimal number"}, // no digit after '.': refused, as in JSON
		{in: ".", wantErr: "not a decimal number"},
		{in: "1.2.3", wantErr: "not a decimal number"},
		{in: "1,5", wantErr: "not a decimal number"},
		{in: "0x10", wantErr: "not a decimal number"},
		{in: "NaN", wantErr: "not a decimal number"},
		{in: "Inf", wantErr: "not a decimal number"},
		{in: "١", wantErr: "not a decimal number"}, // Arabic-Indic digit one
		{in: `"1"`, wantErr: "not a decimal number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := coind.ParseAmount(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseAmount(%q) = %d, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "coind: ") {
					t.Fatalf("ParseAmount(%q) error %q, want it to start with \"coind: \" and contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseAmount(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{1, "0.00000001"},
		{-1, "-0.00000001"},
		{10, "0.0000001"},
		{1_050_000_000, "10.5"},
		{100_000_000, "1"},
		{-150_000_000, "-1.5"},
		{29_000_000, "0.29"},
		{1_234_567_890_000, "12345.6789"},
		{1_234_567_812_345_678, "12345678.12345678"},
		{9_007_199_254_740_993, "90071992.54740993"},
		{math.MaxInt64, "92233720368.54775807"},
		{math.MinInt64, "-92233720368.54775808"},
		{math.MinInt64 + 1, "-92233720368.54775807"},
	}
	for _, tt := range tests {
		if got := coind.FormatAmount(tt.in); got != tt.want {
			t.Errorf("FormatAmount(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAmountRoundTrip(t *testing.T) {
	for _, s := range []string{
		"0.1", "0.2", "0.3", "0.29", "0.57", "1.15", "0.00000001", "12345678.12345678",
		"90071992.54740993", "-0.00000001", "92233720368.54775807", "-92233720368.54775808", "10.5", "0",
	} {
		v, err := coind.ParseAmount(s)
		if err != nil {
			t.Fatalf("ParseAmount(%q): %v", s, err)
		}
		if got := coind.FormatAmount(v); got != s {
			t.Errorf("FormatAmount(ParseAmount(%q)) = %q, want %q", s, got, s)
		}
	}
	// The node prints 8 decimals: the round trip gives the shortest form.
	for in, want := range map[string]string{"12345.67890000": "12345.6789", "007": "7", "-0": "0", "1.00000000": "1"} {
		v, err := coind.ParseAmount(in)
		if err != nil {
			t.Fatalf("ParseAmount(%q): %v", in, err)
		}
		if got := coind.FormatAmount(v); got != want {
			t.Errorf("FormatAmount(ParseAmount(%q)) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{
		"0", "0.1", "0.29", "-0.00000001", "12345.67890000", "92233720368.54775807",
		"-92233720368.54775808", "92233720368.54775808", "1e3", ".5", "5.", "", "+1", "007", "1.123456789",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := coind.ParseAmount(s)
		if err != nil {
			return
		}
		out := coind.FormatAmount(v)
		back, err := coind.ParseAmount(out)
		if err != nil {
			t.Fatalf("ParseAmount(FormatAmount(%d) = %q): %v (input %q)", v, out, err, s)
		}
		if back != v {
			t.Fatalf("ParseAmount(%q) = %d, want %d (input %q)", out, back, v, s)
		}
		// Whatever was accepted is a plain decimal: at most 8 decimals, digits around the dot.
		if strings.ContainsAny(s, "eE+ ") {
			t.Fatalf("ParseAmount(%q) accepted %d", s, v)
		}
	})
}
