// Command loadgen sends POST requests at a fixed rate over HTTPS keep-alive
// and reports latency percentiles. Latency is measured from each request's
// *scheduled* start, so a stalled server cannot hide its queueing delay
// (no coordinated omission). Standard library only.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "target URL")
	bodyFile := flag.String("body", "", "request body file")
	caFile := flag.String("cacert", "", "CA certificate (PEM)")
	rate := flag.Int("rate", 1000, "requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	conns := flag.Int("conns", 16, "keep-alive connections")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		panic(err)
	}
	ca, err := os.ReadFile(*caFile)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns,
		ForceAttemptHTTP2: false, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}

	n := int(float64(*rate) * dur.Seconds())
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(*rate)
	start := time.Now()
	for i := 0; i < n; i++ {
		sched := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(sched))
		wg.Add(1)
		go func(i int, sched time.Time) {
			defer wg.Done()
			req, _ := http.NewRequest("POST", *url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				failed[i] = resp.StatusCode != 200
			} else {
				failed[i] = true
			}
			lat[i] = time.Since(sched)
		}(i, sched)
	}
	wg.Wait()
	errs := 0
	ok := lat[:0]
	for i, l := range lat {
		if failed[i] {
			errs++
		} else {
			ok = append(ok, l)
		}
	}
	sort.Slice(ok, func(a, b int) bool { return ok[a] < ok[b] })
	pct := func(p float64) float64 {
		if len(ok) == 0 {
			return 0
		}
		return float64(ok[int(p*float64(len(ok)-1))].Microseconds()) / 1000
	}
	fmt.Printf("rate=%d/s requests=%d errors=%d p50=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms\n",
		*rate, n, errs, pct(0.50), pct(0.99), pct(0.999), pct(1))
}
