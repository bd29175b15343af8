package azurefake

import (
	"io"
	"net/http"
	"strings"
	"sync"
)

// Recorder is a policy.Transporter that sends nothing anywhere: it records
// each request's URL and answers 404 ResourceNotFound, so tests can assert
// which endpoint a client is configured for without a network.
type Recorder struct {
	mu   sync.Mutex
	urls []string
}

// Do records req and answers 404.
func (r *Recorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path)
	r.mu.Unlock()
	body := `{"error":{"code":"ResourceNotFound","message":"recorded, not sent"}}`
	return &http.Response{
		StatusCode: http.StatusNotFound,
		Status:     "404 Not Found",
		Header:     http.Header{"Content-Type": {"application/json"}, "Sync-Token": {"rec=AA==;sn=1"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}, nil
}

// URLs returns the URL (without query) of every request, in order.
func (r *Recorder) URLs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...)
}
