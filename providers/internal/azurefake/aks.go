package azurefake

import (
	"net/http"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AKS: listClusterUserCredential answers with a kubeconfig for the
// clusters AddAKSCluster made. Credential hands out AKSToken for the AKS
// server application's scope, which tests' clusters accept.

// AKSToken is the token Credential returns for AKSScope.
const AKSToken = "eyFAKE.meridian-aks-token.YWtzLXRva2Vu"

// AKSScope is the AKS Entra server application's scope.
const AKSScope = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"

type aksCluster struct {
	server string
	ca     []byte
}

// AddAKSCluster makes a managed cluster in the subscription's resource
// group whose API server is server, with a certificate the PEM caPEM signs.
func (s *Server) AddAKSCluster(subscription, resourceGroup, name, server string, caPEM []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aks[strings.ToLower(aksID(subscription, resourceGroup, name))] = aksCluster{server: server, ca: caPEM}
}

func aksID(subscription, resourceGroup, name string) string {
	return "/subscriptions/" + subscription + "/resourceGroups/" + resourceGroup + "/providers/Microsoft.ContainerService/managedClusters/" + name
}

// listClusterUserCredential serves POST {cluster}/listClusterUserCredential.
func (s *Server) listClusterUserCredential(r *http.Request, path string) (any, *apiError) {
	id := strings.TrimSuffix(path, "/listclusterusercredential")
	c, ok := s.aks[id]
	if r.Method != http.MethodPost || !ok {
		return nil, errorf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id[strings.LastIndex(id, "/")+1:])
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["aks"] = &clientcmdapi.Cluster{Server: c.server, CertificateAuthorityData: c.ca}
	cfg.AuthInfos["clusterUser"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "kubelogin", APIVersion: "client.authentication.k8s.io/v1beta1",
		Args: []string{"get-token", "--server-id", strings.TrimSuffix(AKSScope, "/.default")}}}
	cfg.Contexts["aks"] = &clientcmdapi.Context{Cluster: "aks", AuthInfo: "clusterUser"}
	cfg.CurrentContext = "aks"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "InternalServerError", "%v", err)
	}
	return map[string]any{"kubeconfigs": []map[string]any{{"name": "clusterUser", "value": b}}}, nil
}
