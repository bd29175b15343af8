package gcpfake

import (
	"context"
	"hash/crc32"
	"regexp"
	"strconv"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// secretState holds Secret Manager's secrets: the versions of each, by
// projects/{project}/secrets/{secret}.
type secretState struct {
	secrets map[string]*fakeSecret
}

type fakeSecret struct {
	versions [][]byte // payloads, oldest first; version ids are 1, 2, …
	disabled map[int]bool
}

func newSecretState() secretState { return secretState{secrets: map[string]*fakeSecret{}} }

func secretName(project, secret string) string { return "projects/" + project + "/secrets/" + secret }

// AddSecretVersion adds data as the newest version of the secret in
// project, as a rotation does.
func (s *Server) AddSecretVersion(project, secret string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := secretName(project, secret)
	sec := s.secrets.secrets[name]
	if sec == nil {
		sec = &fakeSecret{disabled: map[int]bool{}}
		s.secrets.secrets[name] = sec
	}
	sec.versions = append(sec.versions, data)
}

// DisableLatestSecretVersion disables the newest version of the secret:
// reading it fails with FAILED_PRECONDITION.
func (s *Server) DisableLatestSecretVersion(project, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets.secrets[secretName(project, secret)]; sec != nil {
		sec.disabled[len(sec.versions)] = true
	}
}

// secretManager serves AccessSecretVersion, with the CRC32C checksum of
// the payload as Secret Manager sends it.
type secretManager struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	s *Server
}

var versionName = regexp.MustCompile(`^(projects/[^/]+/secrets/[^/]+)/versions/([^/]+)$`)

func (m *secretManager) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	parts := versionName.FindStringSubmatch(req.GetName())
	if parts == nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid secret version name %q", req.GetName())
	}
	sec := m.s.secrets.secrets[parts[1]]
	n := 0
	if sec != nil {
		n = len(sec.versions)
		if parts[2] != "latest" {
			if v, err := strconv.Atoi(parts[2]); err == nil && v >= 1 && v <= n {
				n = v
			} else {
				n = 0
			}
		}
	}
	if n == 0 {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", parts[1])
	}
	if sec.disabled[n] {
		return nil, status.Errorf(codes.FailedPrecondition, "%s/versions/%d is in DISABLED state.", parts[1], n)
	}
	sum := int64(crc32.Checksum(sec.versions[n-1], crc32.MakeTable(crc32.Castagnoli)))
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    parts[1] + "/versions/" + strconv.Itoa(n),
		Payload: &secretmanagerpb.SecretPayload{Data: sec.versions[n-1], DataCrc32C: &sum},
	}, nil
}
