package azurefake

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Key Vault's secrets, by vault host and name: each write adds a version,
// and a read without a version gets the latest. Requests without a token
// get Key Vault's challenge (401 and WWW-Authenticate naming the tenant
// and the resource), which the SDK answers with a token for that resource.
// The resource is the vault host's parent domain, so reach the fake as
// https://NAME.example.com: the fake's client (ClientOptions) dials
// example.com hosts at the fake, and its certificate covers *.example.com.

// keyVaultTenant is the tenant the fake's challenge names.
const keyVaultTenant = "00000000-0000-0000-0000-0000000000aa"

type kvSecret struct {
	versions []string // values, oldest first; version ids are v1, v2, …
}

// PutKeyVaultSecret adds value as the newest version of the secret name
// in the vault at host (kv-billing.example.com).
func (s *Server) PutKeyVaultSecret(host, name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := host + "/" + name
	sec := s.vault[key]
	if sec == nil {
		sec = &kvSecret{}
		s.vault[key] = sec
	}
	sec.versions = append(sec.versions, value)
}

// challenge answers a request without a token as Key Vault does.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request) {
	host, _, _ := strings.Cut(r.Host, ":")
	_, parent, _ := strings.Cut(host, ".")
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="https://login.fake.meridian.test/%s", resource="https://%s"`, keyVaultTenant, parent))
	s.writeError(w, false, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
}

// serveKeyVault serves GET /secrets/{name}[/{version}].
func (s *Server) serveKeyVault(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/secrets/"), "/")
	name, err := url.PathUnescape(parts[0])
	if r.Method != http.MethodGet || err != nil || len(parts) > 2 {
		s.writeError(w, false, http.StatusBadRequest, "BadParameter", "fake Key Vault serves GET /secrets/{name}/{version} only")
		return
	}
	version := ""
	if len(parts) == 2 {
		version = parts[1]
	}
	host, _, _ := strings.Cut(r.Host, ":")
	sec := s.vault[host+"/"+name]
	n := 0
	if sec != nil {
		n = len(sec.versions)
		if version != "" {
			if _, err := fmt.Sscanf(version, "v%d", &n); err != nil || n < 1 || n > len(sec.versions) {
				n = 0
			}
		}
	}
	if n == 0 {
		s.writeError(w, false, http.StatusNotFound, "SecretNotFound", fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", name))
		return
	}
	now := time.Now().Unix()
	writeJSON(w, http.StatusOK, map[string]any{
		"value":      sec.versions[n-1],
		"id":         fmt.Sprintf("https://%s/secrets/%s/v%d", host, name, n),
		"attributes": map[string]any{"enabled": true, "created": now, "updated": now, "recoveryLevel": "Recoverable+Purgeable"},
	})
}
