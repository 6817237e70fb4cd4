// responder: one process standing in for a fleet of pods' endpoints. Bound
// to 0.0.0.0:PORT it answers on every address routed to it: every loopback
// address (127.x.y.z) on the host, or every pod IP of kwok's fake nodes when
// it runs in the network namespace that owns their CIDR
// (test/cluster/fake-nodes --endpoints). So 10k pods with distinct IPs can be
// scraped, each with a usage of its own.
//
//	GET  /metrics      Prometheus text: go_memstats_heap_inuse_bytes (the
//	                   usage of the address asked), process_resident_memory_bytes
//	                   (20 MiB more), go_goroutines
//	POST /debug/gc     a forced GC: counted, the usage stays
//	POST /_usage       {"IP": bytes, ..., "*": bytes}: usages from now on
//	                   ("*": every address not named)
//	POST /_behave      {"IP": "how", ...}: how that address answers /metrics
//	                   from now on: "hang" (never, until the caller gives up),
//	                   "huge" (an endless body), "garbage" (not Prometheus
//	                   text), "redirect" (302 to /metrics-redirected on
//	                   10.128.0.1, which counts its hits), "nan" (the usage is
//	                   NaN), "" (as usual again)
//	GET  /_hits        {"IP path": count} of every request but /_usage,
//	                   /_behave and /_hits
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

type state struct {
	mu    sync.Mutex
	usage map[string]int64
	def   int64
	hits  map[string]int
	how   map[string]string
}

func localIP(r *http.Request) string {
	a, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

func (s *state) count(ip, path string) {
	s.mu.Lock()
	s.hits[ip+" "+path]++
	s.mu.Unlock()
}

func main() {
	listen := flag.String("listen", "0.0.0.0:19000", "address")
	heap := flag.Int64("heap", 50<<20, "go_memstats_heap_inuse_bytes of every address not set by /_usage")
	flag.Parse()
	_, port, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Fatalf("--listen %s: %v", *listen, err)
	}
	redirectTo := "http://10.128.0.1:" + port + "/metrics-redirected"
	s := &state{usage: map[string]int64{}, def: *heap, hits: map[string]int{}, how: map[string]string{}}
	http.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		ip := localIP(r)
		s.count(ip, r.URL.Path)
		s.mu.Lock()
		u, ok := s.usage[ip]
		if !ok {
			u = s.def
		}
		how := s.how[ip]
		s.mu.Unlock()
		if misbehave(w, r, how, redirectTo) {
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 12\n"+
			"# HELP go_memstats_heap_inuse_bytes Heap in use.\n# TYPE go_memstats_heap_inuse_bytes gauge\n"+
			"go_memstats_heap_inuse_bytes %d\n# HELP process_resident_memory_bytes RSS.\n"+
			"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", u, u+(20<<20))
	})
	http.HandleFunc("/debug/gc", func(w http.ResponseWriter, r *http.Request) {
		s.count(localIP(r), r.URL.Path)
		w.WriteHeader(http.StatusOK)
	})
	http.HandleFunc("/_usage", func(w http.ResponseWriter, r *http.Request) {
		var set map[string]int64
		if r.Method != http.MethodPost || json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&set) != nil {
			http.Error(w, `POST {"IP": bytes, "*": bytes}`, http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for k, v := range set {
			if k == "*" {
				s.def = v
			} else {
				s.usage[k] = v
			}
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	http.HandleFunc("/_behave", func(w http.ResponseWriter, r *http.Request) {
		var set map[string]string
		if r.Method != http.MethodPost || json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&set) != nil {
			http.Error(w, `POST {"IP": "hang|huge|garbage|redirect|nan|"}`, http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for k, v := range set {
			s.how[k] = v
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	http.HandleFunc("/metrics-redirected", func(w http.ResponseWriter, r *http.Request) {
		s.count(localIP(r), r.URL.Path)
		fmt.Fprintf(w, "go_memstats_heap_inuse_bytes 1\n")
	})
	http.HandleFunc("/_hits", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		json.NewEncoder(w).Encode(s.hits)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}

// misbehave answers as `how` says; false: answer as usual.
func misbehave(w http.ResponseWriter, r *http.Request, how, redirectTo string) bool {
	switch how {
	case "hang":
		select { // until the caller gives up (or ten minutes)
		case <-r.Context().Done():
		case <-time.After(10 * time.Minute):
		}
	case "huge":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		line := []byte("# " + strings.Repeat("x", 1000) + "\n")
		for i := 0; i < 1<<20; i++ { // up to 1 GB, or until the caller stops reading
			if _, err := w.Write(line); err != nil {
				break
			}
		}
	case "garbage":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "go_memstats_heap_inuse_bytes{{{ not a number\n\x00\xff\xfe\n")
	case "redirect":
		http.Redirect(w, r, redirectTo, http.StatusFound)
	case "nan":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "go_memstats_heap_inuse_bytes NaN\nprocess_resident_memory_bytes NaN\n")
	default:
		return false
	}
	return true
}
