package azurefake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// keyValue is one App Configuration setting (a key under a label).
type keyValue struct {
	Key          string            `json:"key"`
	Label        *string           `json:"label"`
	Value        *string           `json:"value"`
	ContentType  *string           `json:"content_type"`
	Tags         map[string]string `json:"tags"`
	ETag         string            `json:"etag"`
	Locked       bool              `json:"locked"`
	LastModified time.Time         `json:"last_modified"`
}

func kvKey(key string, label *string) string {
	if label == nil {
		return key + "\x00"
	}
	return key + "\x00" + *label
}

// Setting returns the value of key under label and whether it exists.
func (s *Server) Setting(key, label string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kv := s.kv[kvKey(key, &label)]
	if kv == nil || kv.Value == nil {
		return "", false
	}
	return *kv.Value, true
}

// SyncTokens returns the Sync-Token headers clients sent, in order.
func (s *Server) SyncTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.syncTokens...)
}

// syncToken sets the Sync-Token header the SDK demands on every answer.
func (s *Server) syncToken(w http.ResponseWriter) {
	w.Header().Set("Sync-Token", fmt.Sprintf("fake=%s;sn=%d", base64.StdEncoding.EncodeToString([]byte(fmt.Sprint(s.seq))), s.seq))
}

// serveAppConfig serves the data plane's key values: GET, PUT and DELETE
// /kv/{key}?label=…, with If-Match and If-None-Match.
func (s *Server) serveAppConfig(w http.ResponseWriter, r *http.Request, body []byte) {
	if st := r.Header.Get("Sync-Token"); st != "" {
		s.syncTokens = append(s.syncTokens, st)
	}
	escaped, ok := strings.CutPrefix(r.URL.EscapedPath(), "/kv/")
	key, err := url.PathUnescape(escaped)
	if !ok || err != nil || key == "" {
		s.writeError(w, true, http.StatusNotFound, "NotFound", "no route for "+r.Method+" "+r.URL.Path)
		return
	}
	var label *string
	if q := r.URL.Query(); q.Has("label") && q.Get("label") != "\x00" {
		l := q.Get("label")
		label = &l
	}
	kv := s.kv[kvKey(key, label)]
	if err := preconditions(r, kv); err != nil {
		s.writeError(w, true, err.status, err.code, err.message)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if kv == nil {
			s.writeError(w, true, http.StatusNotFound, "NotFound", "the key-value was not found")
			return
		}
	case http.MethodPut:
		if kv != nil && kv.Locked {
			s.writeError(w, true, http.StatusConflict, "Conflict", "the key-value is read-only")
			return
		}
		var in struct {
			Value       *string           `json:"value"`
			ContentType *string           `json:"content_type"`
			Tags        map[string]string `json:"tags"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			s.writeError(w, true, http.StatusBadRequest, "InvalidRequestContent", err.Error())
			return
		}
		kv = &keyValue{Key: key, Label: label, Value: in.Value, ContentType: in.ContentType, Tags: in.Tags,
			ETag: fmt.Sprintf("etag-%d", s.next()), LastModified: time.Now().UTC().Truncate(time.Second)}
		s.kv[kvKey(key, label)] = kv
	case http.MethodDelete:
		if kv == nil {
			s.syncToken(w)
			w.WriteHeader(http.StatusNoContent) // deleting what is gone succeeds
			return
		}
		if kv.Locked {
			s.writeError(w, true, http.StatusConflict, "Conflict", "the key-value is read-only")
			return
		}
		delete(s.kv, kvKey(key, label))
	default:
		s.writeError(w, true, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" is not supported")
		return
	}
	s.syncToken(w)
	w.Header().Set("ETag", `"`+kv.ETag+`"`)
	w.Header().Set("Last-Modified", kv.LastModified.Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/vnd.microsoft.appconfig.kv+json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(kv)
}

// preconditions checks If-Match and If-None-Match against the current
// setting (nil when it does not exist).
func preconditions(r *http.Request, kv *keyValue) *apiError {
	current := ""
	if kv != nil {
		current = `"` + kv.ETag + `"`
	}
	if m := r.Header.Get("If-Match"); m != "" && (kv == nil || (m != "*" && m != current)) {
		return errorf(http.StatusPreconditionFailed, "PreconditionFailed", "the key-value changed (If-Match %s)", m)
	}
	if m := r.Header.Get("If-None-Match"); m != "" && kv != nil && (m == "*" || m == current) {
		if r.Method == http.MethodGet {
			return errorf(http.StatusNotModified, "NotModified", "not modified")
		}
		return errorf(http.StatusPreconditionFailed, "PreconditionFailed", "the key-value exists (If-None-Match %s)", m)
	}
	return nil
}
