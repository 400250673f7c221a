// vipclient: a Kubernetes client through the VIP, asking GET /version
// every 50 ms (-every: another interval; tests/kube/bench asks every 20 ms),
// in one of three ways:
//
//	vipclient KUBECONFIG           client-go as controllers use it: one
//	                               kept-alive HTTP/2 connection, client-go's
//	                               own retry of a GET after a reset; one
//	                               request at a time, 5 s at most each
//	vipclient -fresh KUBECONFIG    a new TLS connection for every request,
//	                               started every 50 ms whether or not the
//	                               ones before have answered, 1 s at most
//	                               each, no retry
//	vipclient -conns N KUBECONFIG  N kept-alive HTTP/2 connections, each
//	                               asking in turn (Go's transport, which
//	                               opens a new connection after a GOAWAY
//	                               as client-go's does), 5 s at most each
//
// One line per request on stdout, in the order they end:
//
//	START END ok [WHO [CONN]]
//	START END err MESSAGE
//
// with START and END in seconds on CLOCK_MONOTONIC, the clock of the e2e's
// observers; WHO the IP addresses in the answering apiserver's serving
// certificate, comma-separated (each master's names its own address), and
// CONN the connection's number with -conns. Stops on SIGTERM.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var every = 50 * time.Millisecond

func now() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

var out sync.Mutex

func report(start float64, err error, extra ...string) {
	end := now()
	out.Lock()
	defer out.Unlock()
	if err == nil {
		fmt.Println(strings.Join(append([]string{fmt.Sprintf("%.3f %.3f ok", start, end)}, extra...), " "))
	} else {
		fmt.Printf("%.3f %.3f err %s\n", start, end, strings.Join(strings.Fields(err.Error()), " "))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "vipclient:", err)
	os.Exit(2)
}

// kept: client-go's own transport and retries, one request at a time.
func kept(config *rest.Config) {
	client, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		fail(err)
	}
	for {
		start := now()
		// Long enough for client-go's retry of a GET whose connection was
		// reset (it waits 1 s before trying again).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.RESTClient().Get().AbsPath("/version").DoRaw(ctx)
		cancel()
		report(start, err)
		time.Sleep(every)
	}
}

// get asks for /version and names the apiserver that answered.
func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	who := []string{}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		for _, ip := range resp.TLS.PeerCertificates[0].IPAddresses {
			who = append(who, ip.String())
		}
	}
	return strings.Join(who, ","), nil
}

func tlsConfig(config *rest.Config) *tls.Config {
	c, err := rest.TLSConfigFor(config)
	if err != nil {
		fail(err)
	}
	return c
}

// fresh: a new connection per request, started on a 50 ms tick.
func fresh(config *rest.Config) {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConfig(config), DisableKeepAlives: true},
	}
	url := strings.TrimSuffix(config.Host, "/") + "/version"
	for range time.Tick(every) {
		go func(start float64) {
			who, err := get(client, url)
			report(start, err, who)
		}(now())
	}
}

// conns: n kept-alive HTTP/2 connections, one transport each.
func conns(config *rest.Config, n int) {
	url := strings.TrimSuffix(config.Host, "/") + "/version"
	for i := 0; i < n; i++ {
		client := &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tlsConfig(config), ForceAttemptHTTP2: true},
		}
		go func(conn string) {
			for {
				start := now()
				who, err := get(client, url)
				report(start, err, who, conn)
				time.Sleep(every)
			}
		}(fmt.Sprint(i))
	}
	select {}
}

func main() {
	isFresh := flag.Bool("fresh", false, "a new connection for every request, one started every interval")
	nConns := flag.Int("conns", 0, "this many kept-alive HTTP/2 connections, each asking every interval")
	flag.DurationVar(&every, "every", every, "the interval between requests")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: vipclient [-fresh | -conns N] [-every DURATION] KUBECONFIG")
		os.Exit(2)
	}
	config, err := clientcmd.BuildConfigFromFlags("", flag.Arg(0))
	if err != nil {
		fail(err)
	}
	if *isFresh {
		fresh(config)
	} else if *nConns > 0 {
		conns(config, *nConns)
	} else {
		kept(config)
	}
}
