package checkout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/payments"
)

// Stream defaults.
const (
	// DefaultHeartbeat is how often an idle stream sends a comment, well
	// under the idle timeouts of common proxies (60 s and more).
	DefaultHeartbeat = 15 * time.Second
	// DefaultMaxStream bounds one stream; the browser reconnects with
	// Last-Event-ID and misses nothing.
	DefaultMaxStream = 10 * time.Minute
	// DefaultRetry is the reconnection delay the stream asks browsers for.
	DefaultRetry = 2 * time.Second
	// deadlineMargin is how long before the request's deadline a stream
	// ends on its own, so it ends cleanly instead of being cut off.
	deadlineMargin = 2 * time.Second
	// writeTimeout bounds one write to the client.
	writeTimeout = 10 * time.Second
	// DefaultMaxStreams is the default cap on the streams open at once. The
	// daemon lowers it when its file descriptor limit is low.
	DefaultMaxStreams = 2000
	// DefaultMaxStreamsPerPayment is the default cap on one payment's
	// streams: a buyer has a tab or two open, not dozens.
	DefaultMaxStreamsPerPayment = 20
	// busyRetryAfter is the Retry-After of a stream refused for the caps.
	busyRetryAfter = "30"
)

// streamSlots counts the open streams, in all and per payment, and refuses
// a stream beyond either cap.
type streamSlots struct {
	mu         sync.Mutex
	max, perID int
	total      int
	byID       map[uuid.UUID]int
}

func newStreamSlots(maxTotal, perID int) *streamSlots {
	return &streamSlots{max: maxTotal, perID: perID, byID: make(map[uuid.UUID]int)}
}

// acquire takes a slot for a stream of id; false means a cap is reached.
func (s *streamSlots) acquire(id uuid.UUID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= s.max || s.byID[id] >= s.perID {
		return false
	}
	s.total++
	s.byID[id]++
	return true
}

// release gives back a slot taken by acquire.
func (s *streamSlots) release(id uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.byID[id]--; s.byID[id] <= 0 {
		delete(s.byID, id)
	}
}

func (s *streamSlots) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// writeEvent writes one SSE message: "id: <seq>", one "data:" line per line
// of data (payment JSON has none, but the format allows it) and the blank
// line that ends the message.
func writeEvent(w io.Writer, m Message) error {
	var buf bytes.Buffer
	buf.WriteString("id: ")
	buf.WriteString(strconv.FormatInt(m.Seq, 10))
	buf.WriteByte('\n')
	for line := range bytes.Lines(m.Data) {
		buf.WriteString("data: ")
		buf.Write(bytes.TrimRight(line, "\r\n"))
		buf.WriteByte('\n')
	}
	if len(m.Data) == 0 {
		buf.WriteString("data: \n")
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeComment writes an SSE comment line, which clients ignore; it keeps
// proxies from closing an idle stream.
func writeComment(w io.Writer, text string) error {
	_, err := io.WriteString(w, ": "+text+"\n\n")
	return err
}

// stream serves GET /payments/{id}/stream: Server-Sent Events with the
// payment's state on connect (or, with Last-Event-ID, the events after it
// first) and every change after that, until the client goes away, the
// stream reaches its age limit or the server shuts down.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil || len(chi.URLParam(r, "id")) != 36 {
		writeJSONError(w, http.StatusBadRequest, "invalid_id", "the payment id must be a UUID such as 7d444840-9dc0-11d1-b245-5ffdce74fad2")
		return
	}
	if s.shuttingDown() {
		w.Header().Set("Retry-After", "5")
		writeJSONError(w, http.StatusServiceUnavailable, "shutting_down", "the server is restarting; try again shortly")
		return
	}
	// The caps are checked before anything else is spent on the stream.
	if !s.slots.acquire(id) {
		w.Header().Set("Retry-After", busyRetryAfter)
		writeJSONError(w, http.StatusServiceUnavailable, "too_many_streams",
			"too many live streams are open; poll GET /payments/{id} instead, or try again later")
		return
	}
	defer s.slots.release(id)
	// Unknown payments get a 404 here, which also stops EventSource from
	// reconnecting; the hub would only poll them in vain.
	if _, err := s.src.Get(r.Context(), id); err != nil {
		if errors.Is(err, payments.ErrNotFound) {
			writeJSONError(w, http.StatusNotFound, "not_found", "no payment has this id")
			return
		}
		s.log.ErrorContext(r.Context(), "checkout: stream", "payment_id", id, "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "the payment cannot be read right now; try again shortly")
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	sub, err := s.hub.Subscribe(id, parseLastEventID(last))
	if err != nil {
		w.Header().Set("Retry-After", "5")
		writeJSONError(w, http.StatusServiceUnavailable, "shutting_down", "the server is restarting; try again shortly")
		return
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	lifetime := s.maxStream
	if dl, ok := r.Context().Deadline(); ok {
		lifetime = min(lifetime, time.Until(dl)-deadlineMargin)
	}
	end := time.NewTimer(max(lifetime, time.Second))
	defer end.Stop()
	beat := time.NewTicker(s.heartbeat)
	defer beat.Stop()

	write := func(f func(io.Writer) error) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := f(w); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	retry := "retry: " + strconv.FormatInt(s.retry.Milliseconds(), 10) + "\n\n"
	if !write(func(w io.Writer) error { _, err := io.WriteString(w, retry); return err }) {
		return
	}
	for {
		select {
		case m := <-sub.C():
			if !write(func(w io.Writer) error { return writeEvent(w, m) }) {
				return
			}
		case <-beat.C:
			if !write(func(w io.Writer) error { return writeComment(w, "ping") }) {
				return
			}
		case <-sub.Done():
			return
		case <-end.C:
			return
		case <-s.done:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// shuttingDown reports whether the server's Done channel is closed.
func (s *Server) shuttingDown() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// writeJSONError answers with the API's error shape.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	body, _ := json.Marshal(struct {
		Success bool   `json:"success"`
		Error   detail `json:"error"`
	}{Error: detail{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
