package checkout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
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
)

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
