package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what one run of the load generator measured.
type loadResult struct {
	n        int // operations that succeeded
	errs     int
	firstErr error
	elapsed  time.Duration
	lat      []time.Duration // per successful operation, sorted
}

// rate is successful operations per second.
func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

// pct returns the p-th percentile latency (0 < p <= 100).
func (r loadResult) pct(p float64) time.Duration {
	return percentile(r.lat, p)
}

// percentile returns the p-th percentile of sorted, by nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// runLoad runs op n times from conc goroutines, as fast as they can, and
// measures the whole and each operation. The same generator drives the
// gateway and the parts it is compared with, so both figures carry the same
// client costs.
func runLoad(ctx context.Context, n, conc int, op func(ctx context.Context, i int) error) loadResult {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		res   loadResult
		wg    sync.WaitGroup
		lats  = make([][]time.Duration, conc)
		start = time.Now()
	)
	for w := range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				began := time.Now()
				err := op(ctx, i)
				d := time.Since(began)
				if err != nil {
					mu.Lock()
					res.errs++
					if res.firstErr == nil {
						res.firstErr = err
					}
					mu.Unlock()
					continue
				}
				lats[w] = append(lats[w], d)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	slices.Sort(res.lat)
	res.n = len(res.lat)
	return res
}

// rssSampler samples a process's resident set size, keeping the largest
// value seen since the last reset.
type rssSampler struct {
	pid  atomic.Int64
	peak atomic.Int64 // bytes
	stop chan struct{}
	done chan struct{}
}

// startRSSSampler samples every interval until close.
func startRSSSampler(interval time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				if v, err := readRSS(int(s.pid.Load())); err == nil {
					for {
						old := s.peak.Load()
						if v <= old || s.peak.CompareAndSwap(old, v) {
							break
						}
					}
				}
			}
		}
	}()
	return s
}

// watch switches the sampler to pid and forgets the peak.
func (s *rssSampler) watch(pid int) {
	s.pid.Store(int64(pid))
	s.reset()
}

// reset forgets the peak, starting from the current value.
func (s *rssSampler) reset() {
	v, _ := readRSS(int(s.pid.Load()))
	s.peak.Store(v)
}

// peakMiB is the largest RSS since the last reset, in MiB.
func (s *rssSampler) peakMiB() float64 { return float64(s.peak.Load()) / (1 << 20) }

// nowMiB is the current RSS in MiB.
func (s *rssSampler) nowMiB() float64 {
	v, _ := readRSS(int(s.pid.Load()))
	return float64(v) / (1 << 20)
}

func (s *rssSampler) close() {
	close(s.stop)
	<-s.done
}

// readRSS returns VmRSS of pid in bytes, from /proc.
func readRSS(pid int) (int64, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("no process")
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
