package main

import "context"

// wireBitPay wires the BitPay-compatible invoice API. (Being built.)
func wireBitPay(_ context.Context, _ deps) (feature, error) { return feature{}, nil }
