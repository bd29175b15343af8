package awsfake

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// EKS: DescribeCluster (restJson1, GET /clusters/{name}) answers with
// clusters AddEKSCluster made; STS GetCallerIdentity, presigned as EKS
// tokens are, checks the SigV4 query signature against the secrets the
// fake knows (its own, the role credentials, AddCredentials), as STS does.

const eksPathPrefix = "/clusters/"

type eksCluster struct {
	endpoint string
	ca       []byte // PEM
}

type eksState struct {
	clusters map[string]eksCluster // by region/name
	secrets  map[string]string     // access key id → secret
}

func (e *eksState) init() {
	e.clusters = map[string]eksCluster{}
	e.secrets = map[string]string{AccessKeyID: SecretAccessKey, RoleAccessKeyID: RoleSecretAccessKey}
}

// AddEKSCluster makes a cluster DescribeCluster reports in region, served
// at endpoint (https://…) with a certificate signed by the PEM caPEM.
func (s *Server) AddEKSCluster(region, name, endpoint string, caPEM []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eks.clusters[region+"/"+name] = eksCluster{endpoint: endpoint, ca: caPEM}
}

// AddCredentials makes STS know an access key's secret, so that requests
// it presigns verify.
func (s *Server) AddCredentials(accessKeyID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eks.secrets[accessKeyID] = secret
}

type eksProtocol struct{ s *Server }

func (p eksProtocol) writeError(w http.ResponseWriter, e *apiError) { acProtocol(p).writeError(w, e) }

func (p eksProtocol) serve(w http.ResponseWriter, r *http.Request, _ []byte) {
	name := strings.TrimPrefix(r.URL.Path, eksPathPrefix)
	reg := region(r)
	c, ok := p.s.eks.clusters[reg+"/"+name]
	if r.Method != http.MethodGet || !ok {
		p.writeError(w, errorf(http.StatusNotFound, "ResourceNotFoundException", "No cluster found for name: "+name+"."))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cluster": map[string]any{
		"name": name, "arn": arn("eks", reg, "cluster/"+name), "status": "ACTIVE", "endpoint": c.endpoint,
		"certificateAuthority": map[string]string{"data": base64.StdEncoding.EncodeToString(c.ca)},
	}})
}

// isPresignedCallerIdentity tells a presigned GetCallerIdentity request.
func isPresignedCallerIdentity(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodGet && q.Get("Action") == "GetCallerIdentity" && q.Get("X-Amz-Signature") != ""
}

// callerIdentity answers a presigned GetCallerIdentity once its signature
// verifies; the caller holds s.mu.
func (p stsProtocol) callerIdentity(w http.ResponseWriter, r *http.Request) {
	key, err := p.s.verifyPresigned(r)
	if err != nil {
		p.writeError(w, err)
		return
	}
	q := r.URL.Query()
	who := fmt.Sprintf("arn:%s:iam::%s:user/meridian", partition(regionOfScope(q.Get("X-Amz-Credential"))), Account)
	if key == RoleAccessKeyID && len(p.s.roles) > 0 {
		// arn:…:iam::ACCOUNT:role/NAME → arn:…:sts::ACCOUNT:assumed-role/NAME/meridian
		role := p.s.roles[len(p.s.roles)-1]
		who = strings.Replace(strings.Replace(role, ":iam::", ":sts::", 1), ":role/", ":assumed-role/", 1) + "/meridian"
	}
	p.s.keys = append(p.s.keys, key)
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>%s</Arn><UserId>AIDAFAKEMERIDIAN</UserId><Account>%s</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, who, Account)
}

// regionOfScope is the region of a credential scope KEY/date/region/service/aws4_request.
func regionOfScope(scope string) string {
	if parts := strings.Split(scope, "/"); len(parts) > 2 {
		return parts[2]
	}
	return ""
}

// verifyPresigned checks a SigV4 query signature by signing the request
// again with the secret of its access key; the caller holds s.mu.
func (s *Server) verifyPresigned(r *http.Request) (string, *apiError) {
	q := r.URL.Query()
	scope := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(scope) != 5 {
		return "", errorf(http.StatusForbidden, "IncompleteSignature", "bad credential scope")
	}
	key, reg, service := scope[0], scope[2], scope[3]
	secret, ok := s.eks.secrets[key]
	if !ok {
		return "", errorf(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return "", errorf(http.StatusForbidden, "IncompleteSignature", "bad X-Amz-Date")
	}
	if expires, err := strconv.Atoi(q.Get("X-Amz-Expires")); err != nil || time.Now().After(at.Add(time.Duration(expires)*time.Second)) {
		return "", errorf(http.StatusForbidden, "ExpiredToken", "Signature expired")
	}
	signed := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	want := q.Get("X-Amz-Signature")
	token := q.Get("X-Amz-Security-Token")
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"} {
		q.Del(k)
	}
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	again, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	for _, h := range signed {
		if h != "host" {
			again.Header.Set(h, r.Header.Get(h))
		}
	}
	empty := sha256.Sum256(nil)
	uri, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: token},
		again, hex.EncodeToString(empty[:]), service, reg, at)
	if err != nil {
		return "", errorf(http.StatusInternalServerError, "InternalFailure", err.Error())
	}
	got, _ := url.Parse(uri)
	if got == nil || got.Query().Get("X-Amz-Signature") != want {
		return "", errorf(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
	}
	return key, nil
}

// VerifyEKSToken authenticates an EKS bearer token for cluster as EKS's
// authenticator does: it calls the presigned GetCallerIdentity the token
// holds (which must be the fake's own STS, signed for the cluster's name)
// and returns the caller's ARN.
func (s *Server) VerifyEKSToken(ctx context.Context, token, cluster string) (string, error) {
	raw, ok := strings.CutPrefix(token, "k8s-aws-v1.")
	if !ok {
		return "", fmt.Errorf("not an EKS token")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return "", fmt.Errorf("EKS token: %v", err)
	}
	u, err := url.Parse(string(b))
	if err != nil || "http://"+u.Host != s.URL() || u.Query().Get("Action") != "GetCallerIdentity" {
		return "", fmt.Errorf("EKS token: not a GetCallerIdentity request to this STS")
	}
	if !strings.Contains(u.Query().Get("X-Amz-SignedHeaders"), "x-k8s-aws-id") {
		return "", fmt.Errorf("EKS token: the cluster header is not signed")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("x-k8s-aws-id", cluster)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Arn   string `xml:"GetCallerIdentityResult>Arn"`
		Error struct {
			Code string `xml:"Code"`
		} `xml:"Error"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("EKS token: STS answered %s: %v", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("EKS token: STS refused it: %s", out.Error.Code)
	}
	return out.Arn, nil
}
