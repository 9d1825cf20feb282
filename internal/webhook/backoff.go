package webhook

import (
	"math/rand/v2"
	"time"
)

// retrySchedule is the nominal delay after each failed attempt; attempts
// beyond its length wait as long as its last entry.
var retrySchedule = []time.Duration{
	10 * time.Second, // after attempt 1
	time.Minute,      // after attempt 2
	5 * time.Minute,  // after attempt 3
	30 * time.Minute, // after attempt 4
	time.Hour,        // after attempt 5 and every later one
}

// jitterFraction is how far DefaultBackoff strays from the schedule either
// way, so that deliveries failing together (a receiver down) do not all come
// back at the same instant.
const jitterFraction = 0.2

// maxRetryAfter caps how long a receiver's Retry-After can push the next
// attempt out; beyond the hourly schedule a receiver gains nothing from
// asking for more.
const maxRetryAfter = time.Hour

// DefaultBackoff returns how long to wait after failed attempt number attempt
// (1 for the first) before the next: about 10 s, 1 min, 5 min, 30 min, then
// hourly, each ±20% at random. It is Config.Backoff's default.
func DefaultBackoff(attempt int) time.Duration {
	return jitter(nominalBackoff(retrySchedule, attempt), rand.Float64())
}

// DefaultSchedule returns the nominal delays of DefaultBackoff.
func DefaultSchedule() []time.Duration { return append([]time.Duration(nil), retrySchedule...) }

// ScheduleBackoff returns a Config.Backoff that waits schedule[n-1] after
// failed attempt n, and the last entry after every later one, each ±20% at
// random (WEBHOOK_RETRY_SCHEDULE). It panics on an empty schedule.
func ScheduleBackoff(schedule []time.Duration) func(attempt int) time.Duration {
	if len(schedule) == 0 {
		panic("webhook: empty retry schedule")
	}
	schedule = append([]time.Duration(nil), schedule...)
	return func(attempt int) time.Duration {
		return jitter(nominalBackoff(schedule, attempt), rand.Float64())
	}
}

// nominalBackoff is the schedule without jitter.
func nominalBackoff(schedule []time.Duration, attempt int) time.Duration {
	i := min(max(attempt, 1), len(schedule)) - 1
	return schedule[i]
}

// jitter scales d by a factor in [1-jitterFraction, 1+jitterFraction), where
// r in [0, 1) picks the point.
func jitter(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (1 - jitterFraction + 2*jitterFraction*r))
}
