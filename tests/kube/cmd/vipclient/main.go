// vipclient: a Kubernetes client through the VIP, asking GET /version
// every 50 ms (-every: another interval; tests/kube/bench asks every 20 ms),
// in one of two ways:
//
//	vipclient KUBECONFIG         client-go as controllers use it: one
//	                             kept-alive HTTP/2 connection, client-go's
//	                             own retry of a GET after a reset; one
//	                             request at a time, 5 s at most each
//	vipclient -fresh KUBECONFIG  a new TLS connection for every request,
//	                             started every 50 ms whether or not the
//	                             ones before have answered, 1 s at most
//	                             each, no retry
//
// One line per request on stdout, in the order they end:
//
//	START END ok
//	START END err MESSAGE
//
// with START and END in seconds on CLOCK_MONOTONIC, the clock of the e2e's
// observers. Stops on SIGTERM.
package main

import (
	"context"
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

func report(start float64, err error) {
	end := now()
	out.Lock()
	defer out.Unlock()
	if err == nil {
		fmt.Printf("%.3f %.3f ok\n", start, end)
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

// fresh: a new connection per request, started on a 50 ms tick.
func fresh(config *rest.Config) {
	tlsConfig, err := rest.TLSConfigFor(config)
	if err != nil {
		fail(err)
	}
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true},
	}
	url := strings.TrimSuffix(config.Host, "/") + "/version"
	for range time.Tick(every) {
		go func(start float64) {
			resp, err := client.Get(url)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("HTTP %d", resp.StatusCode)
				}
			}
			report(start, err)
		}(now())
	}
}

func main() {
	isFresh := flag.Bool("fresh", false, "a new connection for every request, one started every interval")
	flag.DurationVar(&every, "every", every, "the interval between requests")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: vipclient [-fresh] [-every DURATION] KUBECONFIG")
		os.Exit(2)
	}
	config, err := clientcmd.BuildConfigFromFlags("", flag.Arg(0))
	if err != nil {
		fail(err)
	}
	if *isFresh {
		fresh(config)
	} else {
		kept(config)
	}
}
