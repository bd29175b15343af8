//go:build tools

// Package controlplane pins the control plane's programs; the Makefile's
// kube target builds them (go build k8s.io/kubernetes/cmd/…).
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
