package awsfake

import (
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Credentials the fake STS hands out for every AssumeRole.
const (
	RoleAccessKeyID     = "ASIAFAKEMERIDIANROLE"
	RoleSecretAccessKey = "fake/role/secret/Qw7Ez2Rt9Yu4Io1Pa6Sd3Fg8Hj5Kl0"
)

// AssumedRoles returns the role ARNs AssumeRole was called for.
func (s *Server) AssumedRoles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.roles...)
}

// stsProtocol speaks awsQuery for STS AssumeRole: a form-encoded POST
// answered in XML.
type stsProtocol struct{ s *Server }

func (p stsProtocol) writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake</RequestId></ErrorResponse>`, e.code, e.message)
}

func (p stsProtocol) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Action") != "AssumeRole" {
		p.writeError(w, errorf(400, "InvalidAction", "fake STS implements AssumeRole only"))
		return
	}
	arn, session := form.Get("RoleArn"), form.Get("RoleSessionName")
	if arn == "" || session == "" {
		p.writeError(w, errorf(400, "MissingParameter", "RoleArn and RoleSessionName are required"))
		return
	}
	p.s.roles = append(p.s.roles, arn)
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>%s</AccessKeyId>
      <SecretAccessKey>%s</SecretAccessKey>
      <SessionToken>fake-session-token</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>%s/%s</Arn>
      <AssumedRoleId>AROAFAKEMERIDIAN:%s</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, RoleAccessKeyID, RoleSecretAccessKey, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), arn, session, session)
}
