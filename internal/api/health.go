package api

import (
	"net/http"

	"github.com/transient-gateway/transient/internal/health"
)

// healthzResponse is the body of GET /healthz.
type healthzResponse struct {
	Status string `json:"status"`
}

// readyzResponse is the body of GET /readyz.
type readyzResponse struct {
	Ready  bool           `json:"ready"`
	Checks []health.Check `json:"checks"`
}

// healthz answers as long as the process serves HTTP: a liveness probe.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, healthzResponse{Status: "ok"})
	return nil
}

// readyz runs the readiness checks: 200 when every one passed, 503 with the
// failing ones named otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	resp := readyzResponse{Ready: true, Checks: []health.Check{}}
	if s.ready != nil {
		rep := s.ready.Ready(r.Context())
		resp.Ready, resp.Checks = rep.Ready, rep.Checks
	}
	status := http.StatusOK
	if !resp.Ready {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, resp)
	return nil
}
