package payments

// conflictBatches splits obs into batches of about limit observations, in
// order, keeping every group of transactions linked by wallet conflicts in
// one batch (a group larger than limit makes a larger batch).
func conflictBatches(obs []TxObservation, limit int) [][]TxObservation {
	if len(obs) == 0 {
		return nil
	}
	// Union-find over the txids in obs.
	index := make(map[string]int, len(obs))
	for i, o := range obs {
		index[o.TxID] = i
	}
	parent := make([]int, len(obs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	for i, o := range obs {
		for _, other := range o.WalletConflicts {
			if j, ok := index[other]; ok {
				parent[find(i)] = find(j)
			}
		}
	}
	groups := make(map[int][]TxObservation)
	var order []int
	for i, o := range obs {
		root := find(i)
		if _, ok := groups[root]; !ok {
			order = append(order, root)
		}
		groups[root] = append(groups[root], o)
	}
	var (
		out   [][]TxObservation
		batch []TxObservation
	)
	for _, root := range order {
		g := groups[root]
		if len(batch) > 0 && len(batch)+len(g) > limit {
			out = append(out, batch)
			batch = nil
		}
		batch = append(batch, g...)
	}
	return append(out, batch)
}
