// Package membudget offers the endpoints the membudget controller calls on a
// Go service: a forced GC, a throttle switch, a GOMEMLIMIT that follows the
// budget, and the memory and GC figures it samples, in Prometheus text.
// Standard library only.
//
//	mux := http.NewServeMux()
//	mb := membudget.New()
//	mb.Register(mux)                      // /metrics, /debug/gc, /debug/throttle, /debug/memlimit, /debug/pprof/
//	go http.ListenAndServe(":6060", mux)  // the port named in membudget.io/* annotations
//	...
//	if mb.Throttled() { /* shed optional work, refuse new sessions... */ }
//
// Pod annotations to match: membudget.io/metrics: "6060/metrics",
// membudget.io/gc: "6060/debug/gc", membudget.io/throttle: "6060/debug/throttle",
// membudget.io/profile: "6060/debug/pprof/heap", membudget.io/memlimit:
// "6060/debug/memlimit" (the goroutine dump, /debug/pprof/goroutine?debug=2,
// is found on the profile's port).
package membudget

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Handler serves the endpoints. The zero value is not usable; call New.
type Handler struct {
	throttled atomic.Bool
	gcMu      sync.Mutex // one forced GC at a time
	gcCount   atomic.Int64
	beforeGC  func()
}

// New returns a Handler.
func New() *Handler { return &Handler{} }

// BeforeGC sets a function called before each forced GC, e.g. to drop
// caches so the GC can reclaim them.
func (h *Handler) BeforeGC(f func()) { h.beforeGC = f }

// Throttled reports whether membudget asked the service to throttle itself.
func (h *Handler) Throttled() bool { return h.throttled.Load() }

// Register mounts /metrics, /debug/gc, /debug/throttle and /debug/pprof/ on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("/metrics", h.Metrics)
	mux.HandleFunc("/debug/gc", h.GC)
	mux.HandleFunc("/debug/throttle", h.Throttle)
	mux.HandleFunc("/debug/memlimit", h.MemLimit)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
}

// MemStats is the part of runtime.MemStats the GC endpoint reports.
type MemStats struct {
	HeapAlloc uint64 `json:"heapAlloc"`
	HeapInuse uint64 `json:"heapInuse"`
	HeapSys   uint64 `json:"heapSys"`
	Sys       uint64 `json:"sys"`
	NumGC     uint32 `json:"numGC"`
	RSS       uint64 `json:"rss"`
}

func snapshot() MemStats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return MemStats{m.HeapAlloc, m.HeapInuse, m.HeapSys, m.Sys, m.NumGC, rss()}
}

// GC (POST) runs runtime.GC and debug.FreeOSMemory and answers
// {"before":{...},"after":{...},"durationSeconds":...}.
func (h *Handler) GC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	h.gcMu.Lock()
	defer h.gcMu.Unlock()
	before := snapshot()
	t0 := time.Now()
	if h.beforeGC != nil {
		h.beforeGC()
	}
	runtime.GC()
	debug.FreeOSMemory()
	h.gcCount.Add(1)
	after := snapshot()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"before": before, "after": after, "durationSeconds": time.Since(t0).Seconds(),
	})
}

// Throttle (POST {"throttle":true|false}) sets the throttle switch; GET reads it.
func (h *Handler) Throttle(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		var body struct {
			Throttle *bool `json:"throttle"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil || body.Throttle == nil {
			http.Error(w, `body must be {"throttle":true|false}`, http.StatusBadRequest)
			return
		}
		h.throttled.Store(*body.Throttle)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"throttle\":%t}\n", h.throttled.Load())
}

// MemLimit (POST, the body a number of bytes) sets GOMEMLIMIT with
// debug.SetMemoryLimit and answers {"applied":N,"previous":M}, the value now
// in force as the runtime reports it; GET answers {"applied":N}.
func (h *Handler) MemLimit(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"applied\":%d}\n", debug.SetMemoryLimit(-1))
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64))
	n, perr := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
	if err != nil || perr != nil || n <= 0 {
		http.Error(w, "body must be the limit in bytes, a whole number > 0", http.StatusBadRequest)
		return
	}
	prev := debug.SetMemoryLimit(n)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"applied\":%d,\"previous\":%d}\n", debug.SetMemoryLimit(-1), prev)
}

// Metrics serves the Go memory figures in Prometheus text format 0.0.4, with
// the names client_golang uses: go_memstats_* and, from runtime/metrics,
// go_cpu_classes_gc_total_cpu_seconds_total, go_cpu_classes_total_cpu_seconds_total
// (membudget's GC-thrash signal) and go_gc_gomemlimit_bytes.
func (h *Handler) Metrics(w http.ResponseWriter, r *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name,
			strconv.FormatFloat(v, 'g', -1, 64))
	}
	counter := func(name, help string, v float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %s\n", name, help, name, name,
			strconv.FormatFloat(v, 'g', -1, 64))
	}
	gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	gauge("go_memstats_alloc_bytes", "Number of bytes allocated and still in use.", float64(m.Alloc))
	gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and still in use.", float64(m.HeapAlloc))
	gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(m.HeapInuse))
	gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(m.HeapIdle))
	gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(m.HeapReleased))
	gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", float64(m.HeapSys))
	gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(m.Sys))
	gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", float64(m.NextGC))
	counter("go_memstats_gc_total", "Number of completed GC cycles.", float64(m.NumGC))
	if gc, total := gcCPU(); gc >= 0 {
		counter("go_cpu_classes_gc_total_cpu_seconds_total",
			"Estimated total CPU time spent performing GC tasks.", gc)
		counter("go_cpu_classes_total_cpu_seconds_total",
			"Estimated total available CPU time for user Go code or the Go runtime, as defined by GOMAXPROCS.", total)
	}
	gauge("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64.",
		float64(debug.SetMemoryLimit(-1)))
	gauge("process_resident_memory_bytes", "Resident memory size in bytes.", float64(rss()))
	counter("membudget_forced_gc_total", "GCs forced through /debug/gc.", float64(h.gcCount.Load()))
	t := 0.0
	if h.throttled.Load() {
		t = 1
	}
	gauge("membudget_throttled", "1 while membudget asks this service to throttle.", t)
	io.WriteString(w, b.String())
}

// rss reads the resident set size from /proc/self/statm (Linux), 0 elsewhere.
func rss() uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
