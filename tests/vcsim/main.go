// vcsim for the tests: govmomi 0.24's vCenter simulator (Debian's golang-github-vmware-govmomi-dev) with the
// inventory the vSphere driver's tests want, serving HTTPS on -listen until SIGTERM. tests/vsphere_support.py
// builds it once (GO111MODULE=off, GOPATH = the package's gocode tree) into .tools/vcsim.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve the vSphere API on")
	clusters := flag.Int("clusters", 2, "compute clusters in the datacenter")
	hosts := flag.Int("hosts", 2, "ESXi hosts per cluster")
	datacenters := flag.Int("datacenters", 2, "datacenters (regions)")
	datastores := flag.Int("datastores", 1, "datastores per datacenter")
	portgroups := flag.Int("portgroups", 2, "distributed port groups")
	flag.Parse()

	model := simulator.VPX()
	model.Datacenter = *datacenters
	model.Cluster = *clusters
	model.ClusterHost = *hosts
	model.Host = 0
	model.Datastore = *datastores
	model.Portgroup = *portgroups
	model.Machine = 0
	model.Autostart = false
	if err := model.Create(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	model.Service.Listen = &url.URL{Host: *listen}
	model.Service.TLS = new(tls.Config)
	server := model.Service.NewServer()
	fmt.Printf("vcsim listening on %s\n", server.URL.String())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	server.Close()
	model.Remove()
}
