// faultproxy: a reverse proxy between membudget and the real kube-apiserver
// of the test cluster, which misbehaves on request. It stages what only a
// simulator could before: 410 Gone forever, watches that end at once, lists
// that declare 1 GiB or never end, redirects, garbage lines in a watch, a slow
// list, 429 with Retry-After, the API server down for a while. Everything
// else is forwarded as it is (the caller's own credentials go through: the
// real authenticator and RBAC still decide).
//
//	faultproxy --listen 127.0.0.1:0 --upstream https://HOST:PORT --upstream-ca CA.crt
//	           [--address-file FILE]
//
// It prints "ready" once it accepts connections. Control, on the same
// listener (never forwarded):
//
//	POST /_faults            JSON, added to the faults in force (see Faults)
//	DELETE /_faults          every fault off
//	GET /_faults             the faults in force
//	GET /_faults/requests    the requests seen since the last DELETE of it:
//	                         [{"t": unix seconds of arrival, "method", "path", "watch",
//	                         "status" (0 while it runs)}]
//	DELETE /_faults/requests forget them
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rule answers matching requests itself, Count times (-1: forever).
type Rule struct {
	// What it matches: a path prefix ("" any), a method ("" any), and
	// whether the request is a watch (nil: either).
	Path   string `json:"path,omitempty"`
	Method string `json:"method,omitempty"`
	Watch  *bool  `json:"watch,omitempty"`
	Count  int    `json:"count"`
	// What it answers, one of:
	//   status: that HTTP status with a Status body (retryAfter: its
	//     Retry-After header, in seconds);
	//   "expired": a watch answered as the API server does when the version
	//     is too old: 200 and one ERROR event whose Status has code 410;
	//   "endAtOnce": 200 and an empty body (a watch that ends at once);
	//   "declare1GiB": 200 that declares a 1 GiB body and sends 1 MiB of it;
	//   "endless": a chunked list of 48 MiB that never closes its array;
	//   "redirect": 307 to another host (with credentials in the URL);
	//   "garbage": the real answer with lines that are not JSON first;
	//   "slow": the real answer at bytesPerSecond.
	Status         int    `json:"status,omitempty"`
	RetryAfter     *int   `json:"retryAfter,omitempty"`
	Action         string `json:"action,omitempty"`
	BytesPerSecond int    `json:"bytesPerSecond,omitempty"`
}

// Faults in force. POST adds rules; latencyMs, dropWatches and downMs act as
// they are set.
type Faults struct {
	Rules     []*Rule `json:"rules"`
	LatencyMs int     `json:"latencyMs"`
	// dropWatches: close every watch stream open now (as an API server
	// restart does to its clients).
	DropWatches bool `json:"dropWatches,omitempty"`
	// downMs: stop listening for that long, and close every connection:
	// callers see connection refused, as when the API server is down.
	DownMs int `json:"downMs,omitempty"`
}

type entry struct {
	T      float64 `json:"t"`
	Method string  `json:"method"`
	Path   string  `json:"path"`
	Watch  bool    `json:"watch"`
	Status int     `json:"status"`
}

type proxy struct {
	mu       sync.Mutex
	faults   Faults
	requests []entry
	watches  map[context.Context]context.CancelFunc
	conns    map[net.Conn]struct{}
	fwd      *httputil.ReverseProxy
	addr     string
	ln       net.Listener
	srv      *http.Server
}

const maxLog = 100000

func isWatch(r *http.Request) bool {
	w := r.URL.Query().Get("watch")
	return w == "1" || w == "true"
}

// take returns the first rule matching r and uses one of its counts.
func (p *proxy) take(r *http.Request) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	watch := isWatch(r)
	for i, f := range p.faults.Rules {
		if (f.Path != "" && !strings.HasPrefix(r.URL.Path, f.Path)) ||
			(f.Method != "" && f.Method != r.Method) || (f.Watch != nil && *f.Watch != watch) {
			continue
		}
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				p.faults.Rules = append(p.faults.Rules[:i], p.faults.Rules[i+1:]...)
			}
		}
		c := *f
		return &c
	}
	return nil
}

// record logs a request as it arrives (t: its arrival, so a watch is in the
// log while it runs, in the order requests came); its index, or -1 when the
// log is full. done fills in the status as the answer starts.
func (p *proxy) record(r *http.Request) (int, float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := float64(time.Now().UnixNano()) / 1e9
	if len(p.requests) >= maxLog {
		return -1, t
	}
	p.requests = append(p.requests, entry{t, r.Method, r.URL.Path, isWatch(r), 0})
	return len(p.requests) - 1, t
}

func (p *proxy) done(i int, t float64, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= 0 && i < len(p.requests) && p.requests[i].T == t {
		p.requests[i].Status = status // (not when the log was forgotten meanwhile)
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	slow   int // bytes per second, 0: as fast as it comes
	// onStatus is told the status once, before the header is written.
	onStatus func(int)
}

// The status goes into the log before any of the answer leaves, so a client
// that has its answer finds it there.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && w.onStatus != nil {
		w.onStatus(code)
	}
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		if w.onStatus != nil {
			w.onStatus(http.StatusOK)
		}
		w.status = http.StatusOK
	}
	if w.slow <= 0 {
		return w.ResponseWriter.Write(b)
	}
	n := 0
	for n < len(b) {
		step := min(len(b)-n, max(w.slow/10, 1))
		m, err := w.ResponseWriter.Write(b[n : n+step])
		n += m
		if err != nil {
			return n, err
		}
		w.Flush()
		time.Sleep(time.Duration(step) * time.Second / time.Duration(w.slow))
	}
	return n, nil
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1",
		"metadata": map[string]any{}, "status": "Failure", "message": msg, "reason": reason,
		"code": code})
}

var reasons = map[int]string{410: "Expired", 429: "TooManyRequests", 500: "InternalError",
	503: "ServiceUnavailable", 504: "Timeout", 403: "Forbidden", 404: "NotFound"}

// answer serves r from rule f; true when it did (false: forward, maybe slowed
// or with garbage first).
func answer(w *statusWriter, r *http.Request, f *Rule) bool {
	switch {
	case f.Status != 0:
		if f.RetryAfter != nil {
			w.Header().Set("Retry-After", strconv.Itoa(*f.RetryAfter))
		}
		writeStatus(w, f.Status, reasons[f.Status], fmt.Sprintf("faultproxy: injected fault (%d)", f.Status))
	case f.Action == "expired":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		json.NewEncoder(w).Encode(map[string]any{"type": "ERROR", "object": map[string]any{
			"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
			"status": "Failure", "message": "too old resource version (faultproxy)",
			"reason": "Expired", "code": 410}})
	case f.Action == "endAtOnce":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case f.Action == "declare1GiB":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(1<<30))
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"kind":"PodList","items":[`))
		w.Write([]byte(strings.Repeat(" ", 1<<20)))
		panic(http.ErrAbortHandler) // the connection is cut, as a dying server's
	case f.Action == "endless":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[`))
		item := []byte(`{"kind":"Pod","metadata":{"name":"` + strings.Repeat("x", 65000) + `"}},`)
		for i := 0; i < 48*16; i++ {
			if _, err := w.Write(item); err != nil {
				return true
			}
		}
		w.Flush()
	case f.Action == "redirect":
		w.Header().Set("Location", "https://user:secret@elsewhere.invalid:6443"+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	case f.Action == "garbage":
		return false
	case f.Action == "slow":
		w.slow = f.BytesPerSecond
		return false
	default:
		writeStatus(w, 500, "InternalError", "faultproxy: a rule with no answer: "+f.Action)
	}
	return true
}

func (p *proxy) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_faults") {
		p.control(rw, r)
		return
	}
	i, t := p.record(r)
	w := &statusWriter{ResponseWriter: rw, onStatus: func(code int) { p.done(i, t, code) }}
	p.mu.Lock()
	lat := p.faults.LatencyMs
	p.mu.Unlock()
	if lat > 0 {
		time.Sleep(time.Duration(lat) * time.Millisecond)
	}
	f := p.take(r)
	if f != nil && answer(w, r, f) {
		return
	}
	if isWatch(r) {
		ctx, cancel := context.WithCancel(r.Context())
		p.mu.Lock()
		p.watches[ctx] = cancel
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.watches, ctx)
			p.mu.Unlock()
			cancel()
		}()
		r = r.WithContext(ctx)
	}
	if f != nil && f.Action == "garbage" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("this is not json\n{\"type\":\n\x00\xff\n"))
		w.Flush()
		if !isWatch(r) {
			return
		}
	}
	p.fwd.ServeHTTP(w, r)
}

func (p *proxy) control(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	switch {
	case r.URL.Path == "/_faults/requests" && r.Method == http.MethodGet:
		out, _ := json.Marshal(p.requests)
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
		return
	case r.URL.Path == "/_faults/requests" && r.Method == http.MethodDelete:
		p.requests = nil
	case r.URL.Path == "/_faults" && r.Method == http.MethodDelete:
		p.faults = Faults{}
	case r.URL.Path == "/_faults" && r.Method == http.MethodPost:
		var f Faults
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			p.mu.Unlock()
			http.Error(w, "faultproxy: bad faults: "+err.Error(), http.StatusBadRequest)
			return
		}
		for _, rule := range f.Rules {
			if rule.Count == 0 {
				rule.Count = 1
			}
		}
		p.faults.Rules = append(p.faults.Rules, f.Rules...)
		if f.LatencyMs != 0 {
			p.faults.LatencyMs = max(f.LatencyMs, 0)
		}
		if f.DropWatches || f.DownMs > 0 {
			for _, cancel := range p.watches {
				cancel()
			}
		}
		if f.DownMs > 0 {
			go p.down(time.Duration(f.DownMs) * time.Millisecond)
		}
	case r.URL.Path == "/_faults" && r.Method == http.MethodGet:
	default:
		p.mu.Unlock()
		http.Error(w, "faultproxy: no such control endpoint", http.StatusNotFound)
		return
	}
	out, _ := json.Marshal(p.faults)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// down closes the listener and every connection (but the one asking, which
// gets its answer first), then listens again on the same address.
func (p *proxy) down(d time.Duration) {
	time.Sleep(50 * time.Millisecond) // the control answer goes out first
	p.mu.Lock()
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	time.Sleep(d)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) &&
			!errors.Is(err, http.ErrServerClosed) {
			log.Printf("faultproxy: %v", err)
		}
	}()
}

// newProxy: a proxy to upstream (https://HOST:PORT), trusting caFile ("":
// the system's roots), not yet listening.
func newProxy(upstream, caFile string) (*proxy, error) {
	u, err := url.Parse(upstream)
	if upstream == "" || err != nil || u.Host == "" {
		return nil, fmt.Errorf("--upstream https://HOST:PORT is required (got %q)", upstream)
	}
	var pool *x509.CertPool
	if caFile != "" {
		pool = x509.NewCertPool()
		pem, err := os.ReadFile(caFile)
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--upstream-ca %s: no PEM certificate (%v)", caFile, err)
		}
	}
	p := &proxy{watches: map[context.Context]context.CancelFunc{}, conns: map[net.Conn]struct{}{}}
	p.fwd = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = u.Host
		},
		FlushInterval: -1, // watches stream event by event
		Transport: &http.Transport{
			Proxy:               nil, // never a proxy: the API server is on this machine
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 64,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				writeStatus(w, http.StatusBadGateway, "InternalError", "faultproxy: upstream: "+err.Error())
			}
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, s http.ConnState) {
			p.mu.Lock()
			defer p.mu.Unlock()
			switch s {
			case http.StateNew:
				p.conns[c] = struct{}{}
			case http.StateClosed, http.StateHijacked:
				delete(p.conns, c)
			}
		}}
	return p, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "HOST:PORT to listen on (plain HTTP)")
	upstream := flag.String("upstream", "", "the API server, https://HOST:PORT")
	upstreamCA := flag.String("upstream-ca", "", "its CA certificate (PEM)")
	addrFile := flag.String("address-file", "", "write HOST:PORT here once listening")
	flag.Parse()
	p, err := newProxy(*upstream, *upstreamCA)
	if err != nil {
		log.Fatalf("faultproxy: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("faultproxy: listen %s: %v", *listen, err)
	}
	p.addr = ln.Addr().String()
	if *addrFile != "" {
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(p.addr), 0o644); err != nil || os.Rename(tmp, *addrFile) != nil {
			log.Fatalf("faultproxy: cannot write %s: %v", *addrFile, err)
		}
	}
	p.serve(ln)
	fmt.Println("ready")
	select {}
}
