package awsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const smTargetPrefix = "secretsmanager."

// smState holds Secrets Manager's secrets: the current value of each, by
// region and name.
type smState struct {
	secrets map[string]*smSecret // region/name
}

func (m *smState) init() { m.secrets = map[string]*smSecret{} }

type smSecret struct {
	name    string
	text    *string
	binary  []byte
	version int
}

// PutSecret makes value the current (AWSCURRENT) text value of the secret
// name in region, as a rotation would.
func (s *Server) PutSecret(region, name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sm.put(region, name, &value, nil)
}

// PutBinarySecret makes value the current binary value of the secret.
func (s *Server) PutBinarySecret(region, name string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sm.put(region, name, nil, value)
}

func (m *smState) put(region, name string, text *string, binary []byte) {
	key := region + "/" + name
	sec := m.secrets[key]
	if sec == nil {
		sec = &smSecret{name: name}
		m.secrets[key] = sec
	}
	sec.text, sec.binary = text, binary
	sec.version++
}

// smProtocol speaks awsJson1.1 for Secrets Manager's GetSecretValue.
type smProtocol struct{ s *Server }

// writeError answers in the awsJson1.1 error shape, as ECS does.
func (p smProtocol) writeError(w http.ResponseWriter, e *apiError) { ecsProtocol(p).writeError(w, e) }

func (p smProtocol) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), smTargetPrefix)
	if op != "GetSecretValue" {
		p.writeError(w, errorf(400, "UnknownOperationException", "fake Secrets Manager does not implement "+op))
		return
	}
	var in struct{ SecretId, VersionId, VersionStage string }
	if err := json.Unmarshal(body, &in); err != nil || in.SecretId == "" {
		p.writeError(w, errorf(400, "InvalidParameterException", "SecretId is required"))
		return
	}
	reg := region(r)
	sec := p.s.sm.secrets[reg+"/"+in.SecretId]
	if sec == nil || (in.VersionStage != "" && in.VersionStage != "AWSCURRENT") {
		p.writeError(w, errorf(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."))
		return
	}
	out := map[string]any{
		"ARN":           arn("secretsmanager", reg, "secret:"+sec.name+"-AbCdEf"),
		"Name":          sec.name,
		"VersionId":     fmt.Sprintf("%032x", sec.version),
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   float64(time.Now().Unix()),
	}
	if sec.text != nil {
		out["SecretString"] = *sec.text
	} else {
		out["SecretBinary"] = sec.binary // base64, as awsJson encodes blobs
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}
