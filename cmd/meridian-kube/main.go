// Command meridian-kube runs local Kubernetes clusters for Meridian's tour
// and for trying Kubernetes targets without a cloud: each a real control
// plane (package kubelocal, built by `make kube`) with a node that runs pods
// as local processes (package processnode), all on 127.0.0.1. It writes a
// kubeconfig with a context per cluster, named after it, and runs until
// Ctrl-C, which stops every cluster and its pods.
//
//	meridian-kube [--dir .kube-local] [--clusters eks-east,aks-west,gke-west,eks-gov]
//
// The control plane's programs are found in $MERIDIAN_KUBE_BIN, else in
// kube/ beside this command (bin/kube); pods' programs (meridian-demo) in
// this command's directory, then $PATH.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meridian-deploy/meridian/providers/kubernetes/kubelocal"
	"github.com/meridian-deploy/meridian/providers/kubernetes/processnode"
)

func main() {
	fs := flag.NewFlagSet("meridian-kube", flag.ContinueOnError)
	dir := fs.String("dir", ".kube-local", "where the clusters' files and the kubeconfig go")
	names := fs.String("clusters", "eks-east,aks-west,gke-west,eks-gov", "the clusters to run, comma-separated: each is a kubeconfig context")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, strings.Split(*names, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "meridian-kube:", err)
		os.Exit(1)
	}
}

// cluster is one running cluster and its node.
type cluster struct {
	name string
	cp   *kubelocal.Cluster
	node *processnode.Node
}

func run(ctx context.Context, dir string, names []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	bin := filepath.Dir(exe)
	kubeBin := os.Getenv("MERIDIAN_KUBE_BIN")
	if kubeBin == "" {
		kubeBin = filepath.Join(bin, "kube")
	}
	var running []*cluster
	defer func() {
		for _, c := range running {
			c.node.Stop()
			c.cp.Stop()
		}
	}()
	for _, name := range names {
		if name == "" || strings.ContainsAny(name, "/ ") {
			return fmt.Errorf("--clusters: %q is not a cluster name", name)
		}
		c, err := start(ctx, filepath.Join(dir, name), kubeBin, bin)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", name, err)
		}
		c.name = name
		running = append(running, c)
		fmt.Printf("cluster %s ready at %s\n", name, c.cp.Host)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, running); err != nil {
		return err
	}
	fmt.Printf("kubeconfig %s has a context per cluster (%s); Ctrl-C stops them\n", kubeconfig, strings.Join(names, ", "))
	<-ctx.Done()
	fmt.Println("stopping the clusters")
	return nil
}

// start starts one control plane in dir and its node.
func start(ctx context.Context, dir, kubeBin, podBin string) (*cluster, error) {
	if err := os.MkdirAll(filepath.Join(dir, "node"), 0o700); err != nil {
		return nil, err
	}
	cp, err := kubelocal.Start(ctx, kubelocal.Options{Dir: dir, BinDir: kubeBin})
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cp.Config(cp.AdminToken))
	if err == nil {
		var node *processnode.Node
		if node, err = processnode.Run(ctx, client, processnode.Options{Dir: filepath.Join(dir, "node"), BinDir: podBin}); err == nil {
			return &cluster{cp: cp, node: node}, nil
		}
	}
	cp.Stop()
	if ctx.Err() != nil {
		return nil, errors.New("interrupted")
	}
	return nil, err
}

// writeKubeconfig writes a context per cluster, named after it, with its
// admin token; the current context is the first.
func writeKubeconfig(path string, clusters []*cluster) error {
	cfg := clientcmdapi.NewConfig()
	for _, c := range clusters {
		cfg.Clusters[c.name] = &clientcmdapi.Cluster{Server: c.cp.Host, CertificateAuthorityData: c.cp.CA}
		cfg.AuthInfos[c.name] = &clientcmdapi.AuthInfo{Token: c.cp.AdminToken}
		cfg.Contexts[c.name] = &clientcmdapi.Context{Cluster: c.name, AuthInfo: c.name}
	}
	if len(clusters) > 0 {
		cfg.CurrentContext = clusters[0].name
	}
	return clientcmd.WriteToFile(*cfg, path)
}
