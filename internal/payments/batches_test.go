package payments

import (
	"slices"
	"testing"
)

func TestConflictBatchesKeepConflictsTogether(t *testing.T) {
	tx := func(id string, conflicts ...string) TxObservation {
		return TxObservation{TxID: id, WalletConflicts: conflicts}
	}
	obs := []TxObservation{tx("a", "d"), tx("b"), tx("c"), tx("d", "a"), tx("e", "f"), tx("f", "e", "g"), tx("g", "f")}
	var got [][]string
	for _, b := range conflictBatches(obs, 2) {
		var ids []string
		for _, o := range b {
			ids = append(ids, o.TxID)
		}
		got = append(got, ids)
	}
	// a and d conflict, and so do e, f and g (a group larger than the
	// limit stays whole); every observation appears once.
	want := [][]string{{"a", "d"}, {"b", "c"}, {"e", "f", "g"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("batches = %v, want %v", got, want)
	}
	if b := conflictBatches(nil, 2); b != nil {
		t.Fatalf("batches of nothing = %v", b)
	}
}
