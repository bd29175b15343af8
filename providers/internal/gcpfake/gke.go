package gcpfake

import (
	"context"
	"encoding/base64"

	"cloud.google.com/go/container/apiv1/containerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GKE's ClusterManager: GetCluster answers with the clusters AddGKECluster
// made.

type gkeCluster struct {
	endpoint string // host:port
	ca       []byte // PEM
}

// AddGKECluster makes the cluster
// projects/{project}/locations/{location}/clusters/{name}, served at
// endpoint (host:port, as GKE reports it) with a certificate the PEM caPEM
// signs.
func (s *Server) AddGKECluster(project, location, name, endpoint string, caPEM []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gke["projects/"+project+"/locations/"+location+"/clusters/"+name] = gkeCluster{endpoint: endpoint, ca: caPEM}
}

type clusterManager struct {
	containerpb.UnimplementedClusterManagerServer
	s *Server
}

func (m *clusterManager) GetCluster(_ context.Context, req *containerpb.GetClusterRequest) (*containerpb.Cluster, error) {
	c, ok := m.s.gke[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Not found: %s.", req.GetName())
	}
	return &containerpb.Cluster{
		Name: req.GetName(), Endpoint: c.endpoint, Status: containerpb.Cluster_RUNNING,
		MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: base64.StdEncoding.EncodeToString(c.ca)},
	}, nil
}
