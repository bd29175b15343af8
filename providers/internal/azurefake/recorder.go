package azurefake

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
)

// ARMCloud is an Azure boundary as a Resource Manager client sees it: a
// region in it, the host of its Resource Manager and the token scope for it.
type ARMCloud struct{ Boundary, Region, Host, Scope string }

// ARMClouds are the Azure boundaries, for tests of the endpoints the
// drivers call in each.
var ARMClouds = []ARMCloud{
	{"public", "westeurope", "management.azure.com", "https://management.core.windows.net//.default"},
	{"us-gov", "usgovvirginia", "management.usgovcloudapi.net", "https://management.core.usgovcloudapi.net//.default"},
	{"china", "chinanorth3", "management.chinacloudapi.cn", "https://management.core.chinacloudapi.cn//.default"},
}

// RecorderOptions are driver options for targets of boundary in
// Subscription whose requests go to rec.
func RecorderOptions(boundary string, rec *Recorder) *azure.Options {
	return &azure.Options{
		Boundary:      boundary,
		Settings:      map[string]string{azure.SettingSubscription: Subscription},
		ClientOptions: policy.ClientOptions{Transport: rec},
	}
}

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
