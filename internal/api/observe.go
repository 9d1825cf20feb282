package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
)

// RequestIDHeader carries a request's id: taken from the request when it is
// a sensible token (a proxy's id), otherwise made up, and always sent back.
const RequestIDHeader = "X-Request-Id"

// requestIDRE is what an incoming request id may look like; anything else
// (too long, or with characters that would garble a log line) is replaced.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestID gives every request an id, stored where chi's
// middleware.GetReqID finds it, and answers it in X-Request-Id.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if id == "" || !requestIDRE.MatchString(id) {
			id = uuid.NewString()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(&requestContext{Context: r.Context(), id: id}))
	})
}

// requestContext carries a request's id and its requestInfo in one
// context value, rather than two context.WithValue layers and two copies
// of the request (GET /payments/{id} is served thousands of times a
// second; each layer is an allocation and a copy of the http.Request).
type requestContext struct {
	context.Context
	id   string // what middleware.GetReqID returns
	info requestInfo
}

// Value answers the request id under chi's middleware.RequestIDKey and the
// request's *requestInfo under requestInfoKey; any other key is the
// parent's.
func (c *requestContext) Value(key any) any {
	switch key {
	case middleware.RequestIDKey:
		return c.id
	case requestInfoKey{}:
		return &c.info
	}
	return c.Context.Value(key)
}

// requestInfo collects, while a request is served, the fields its log line
// names beside the route: the hint's coin and hash on /notify.
type requestInfo struct {
	hintKind, coin, hash string
}

type requestInfoKey struct{}

// observe logs one line per request (request id, method, route pattern,
// status, duration, and the payment, event, coin and hash it was about)
// and counts it in the metrics. It never logs headers, query strings or
// bodies, so no API key, token or secret can reach the log through it.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// requestID has made the request's context, with room for the
		// info; without it (a handler built some other way) it is added.
		info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
		if info == nil {
			info = &requestInfo{}
			r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			status := ww.Status()
			if status == 0 {
				// The handler wrote nothing: net/http answers 200.
				status = http.StatusOK
			}
			end := time.Now()
			d := end.Sub(start)
			route := ""
			// The line's attributes, in order: the six every line has, then
			// the payment or event id, the coin, the hash and the request
			// id when there are.
			var buf [10]slog.Attr
			attrs := buf[:6]
			if rctx := chi.RouteContext(r.Context()); rctx != nil {
				route = rctx.RoutePattern()
				if id := rctx.URLParam("id"); id != "" {
					key := "payment_id"
					if strings.HasPrefix(route, "/events/") {
						key = "event_id"
					}
					attrs = append(attrs, slog.String(key, id))
				}
			}
			s.metrics.HTTPRequest(r.Method, route, status, d)
			if info.hintKind != "" && status == http.StatusAccepted {
				s.metrics.HintReceived(info.hintKind, info.coin)
			}
			if info.coin != "" {
				attrs = append(attrs, slog.String("coin", info.coin))
			}
			if info.hash != "" {
				key := "txid"
				if info.hintKind == "block" {
					key = "block_hash"
				}
				attrs = append(attrs, slog.String(key, info.hash))
			}
			if route == "" {
				route = "unmatched"
			}
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelWarn
			}
			ctx := r.Context()
			h := s.log.Handler()
			if !h.Enabled(ctx, level) {
				return
			}
			attrs[0] = slog.String("method", r.Method)
			attrs[1] = slog.String("route", route)
			attrs[2] = slog.String("path", r.URL.Path)
			attrs[3] = slog.Int("status", status)
			attrs[4] = slog.Float64("duration_ms", float64(d.Microseconds())/1000)
			attrs[5] = slog.Int("bytes", ww.BytesWritten())
			// Named here, request_id spares WithRequestID's handler a copy
			// of the record on every request.
			if id := middleware.GetReqID(ctx); id != "" {
				attrs = append(attrs, slog.String("request_id", id))
			}
			// The record is made here rather than by Logger.LogAttrs, which
			// would walk the stack for a source position that the line
			// does not show (and that would name this function).
			rec := slog.NewRecord(end, level, "request", 0)
			rec.AddAttrs(attrs...)
			_ = h.Handle(ctx, rec)
		}()
		next.ServeHTTP(ww, r)
	})
}

// peekHint reads the coin and hash of a /notify request for its log line and
// the hint counter, and hands the body on unchanged (or the error that
// reading it gave, such as the body being too large).
func peekHint(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
		if info == nil || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		data, err := io.ReadAll(r.Body)
		var body io.Reader = bytes.NewReader(data)
		if err != nil {
			body = io.MultiReader(body, errReader{err})
		}
		r.Body = io.NopCloser(body)
		var hint struct {
			Coin string `json:"coin"`
			Hash string `json:"hash"`
		}
		if json.Unmarshal(data, &hint) == nil {
			info.hintKind = strings.TrimPrefix(r.URL.Path, "/notify/")
			info.coin = strings.ToUpper(strings.TrimSpace(hint.Coin))
			if isHash(strings.ToLower(strings.TrimSpace(hint.Hash))) {
				info.hash = strings.ToLower(strings.TrimSpace(hint.Hash))
			}
			if len(info.coin) > 10 {
				info.coin = "" // not a coin code; the handler refuses it
			}
		}
		next.ServeHTTP(w, r)
	})
}

// errReader returns err once its data is read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// WithRequestID wraps a log handler so that every record logged with a
// request's context (InfoContext and the like) carries the request's
// request_id, also when it comes from another package (the payment service
// logging "payment created"). Records that already name a request_id are
// left alone. Wrapping twice is harmless.
func WithRequestID(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

// Handle adds request_id when the context has one.
func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := middleware.GetReqID(ctx); id != "" {
		has := false
		rec.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			rec = rec.Clone()
			rec.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, rec)
}

// WithAttrs keeps the wrapper around the new handler.
func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the new handler.
func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
