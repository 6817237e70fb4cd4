// leaky: a real Go service whose memory behaviour a test controls, using
// membudget's contrib/go endpoints (/metrics, /debug/gc, /debug/throttle,
// /debug/pprof/heap).
//
//	leaky --listen 127.0.0.2:6060 --mode held --rate 4 --max 512
//
// Modes (also settable at run time: POST /control {"mode":"garbage","rate":8},
// with "max": MiB to move the cap):
//
//	idle        allocate nothing
//	garbage     allocate rate MiB/s of garbage with the automatic GC off:
//	            the heap grows until a GC is forced, which reclaims it all
//	held        allocate rate MiB/s and keep references: no GC reclaims it
//	steady      like held, but stop growing at --max
//	goroutines  start rate*10 goroutines per second that block forever
//	thrash      the GOMEMLIMIT death spiral: hold a live heap of pointers just
//	            under GOMEMLIMIT (--max MiB when none is set) and keep
//	            allocating rate MiB/s of short-lived objects, so the runtime
//	            collects without pause
//
// --max caps the memory held or pending (MiB) so a test never eats the machine.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"math"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	membudget "membudget.io/contrib/go"
)

type state struct {
	mu      sync.Mutex
	mode    string
	rate    float64 // MiB/s
	max     int     // MiB
	held    [][]byte
	garbage [][]byte // referenced only until the next forced GC
	blocked chan struct{}
	ngor    int
	live    *node // thrash: the held heap
	burnt   int   // burst: KiB made so far (the cap is made once, whatever a GC drops meanwhile)
}

// node: 64 bytes with a pointer, so the GC has to trace what is held.
type node struct {
	next *node
	pad  [48]byte
}

// fillToLimit holds live nodes up to 97% of GOMEMLIMIT (set to max MiB when
// the process has none).
func (s *state) fillToLimit() {
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		limit = int64(s.max) << 20
		debug.SetMemoryLimit(limit)
	}
	s.live = nil
	for i := int64(0); i < limit*97/100/64-(8<<20)/64; i++ { // less the runtime's own few MiB
		s.live = &node{next: s.live}
	}
}

func (s *state) tick(dt time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int(s.rate * dt.Seconds() * 1024) // KiB this tick
	switch s.mode {
	case "garbage", "burst":
		if s.mode == "burst" {
			if s.burnt >= s.max<<10 {
				break // made once: a forced GC frees it for good
			}
			// all of it in one tick, under the lock that a forced GC's
			// dropGarbage takes: a GC comes before the burst or after it
			n = s.max<<10 - s.burnt
			s.burnt += n
		}
		if len(s.garbage) < s.max*16 {
			for i := 0; i < n/64; i++ {
				b := make([]byte, 64<<10)
				for j := 0; j < len(b); j += 4096 {
					b[j] = 1 // touch: resident, not just reserved
				}
				s.garbage = append(s.garbage, b)
			}
		}
	case "held", "steady":
		if len(s.held) < s.max*16 {
			s.hoardSessionSnapshots(n / 64)
		}
	case "thrash":
		var sink *node
		for i := 0; i < n*16; i++ { // n KiB of 64-byte garbage
			sink = &node{next: sink}
		}
		sink = nil
		_ = sink
	case "goroutines":
		for i := 0; i < int(s.rate*10*dt.Seconds())+1 && s.ngor < 100000; i++ {
			s.ngor++
			go parkOnBlockedOrders(s.blocked)
		}
	}
}

// hoardSessionSnapshots is the leak of the held and steady modes: n blocks
// of 64 KiB kept for good. Its name is distinctive on purpose: the forensics
// scenario expects membudget's growth line (and `membudget profiles diff`)
// to name it first.
//
//go:noinline
func (s *state) hoardSessionSnapshots(n int) {
	for i := 0; i < n; i++ {
		b := make([]byte, 64<<10)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		s.held = append(s.held, b)
	}
}

// parkOnBlockedOrders is where the goroutines mode's goroutines wait, for
// ever: the goroutine dump's top group.
//
//go:noinline
func parkOnBlockedOrders(blocked chan struct{}) { <-blocked }

// The garbage mode's slices become unreachable when a GC is forced: that is
// what makes it "garbage a GC reclaims" while the automatic GC is off.
func (s *state) dropGarbage() {
	s.mu.Lock()
	s.garbage = nil
	s.mu.Unlock()
}

func (s *state) setMode(mode string, rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
	if rate > 0 {
		s.rate = rate
	}
	s.burnt = 0
	if mode == "garbage" || mode == "burst" {
		debug.SetGCPercent(-1)
	} else {
		debug.SetGCPercent(100)
	}
	if mode == "idle" || mode == "thrash" {
		s.held, s.garbage = nil, nil
	}
	if mode == "thrash" {
		s.fillToLimit()
	} else {
		s.live = nil
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6060", "address to serve on")
	mode := flag.String("mode", "idle", "idle, garbage, burst (garbage up to --max once), held, steady, goroutines or thrash")
	rate := flag.Float64("rate", 4, "MiB per second (goroutines: x10 per second)")
	max := flag.Int("max", 512, "cap on memory held or pending, MiB")
	flag.Parse()

	s := &state{rate: *rate, max: *max, blocked: make(chan struct{})}
	s.setMode(*mode, 0)
	mb := membudget.New()
	mb.BeforeGC(s.dropGarbage)
	mux := http.NewServeMux()
	mb.Register(mux)
	mux.HandleFunc("/control", func(w http.ResponseWriter, r *http.Request) {
		var c struct {
			Mode string  `json:"mode"`
			Rate float64 `json:"rate"`
			Max  int     `json:"max"` // MiB; 0 keeps --max
		}
		if r.Method != http.MethodPost || json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&c) != nil ||
			c.Max < 0 || c.Max > 4096 {
			http.Error(w, `POST {"mode":"...","rate":N,"max":MiB (0..4096, 0: unchanged)}`, http.StatusBadRequest)
			return
		}
		s.setMode(c.Mode, c.Rate)
		if c.Max > 0 {
			s.mu.Lock()
			s.max = c.Max
			s.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	// /hits: requests served, by path (tests ask whether anyone called; this
	// path itself is not counted).
	// /calls?path=P: when each request to P came (Unix ms, the last 100),
	// for tests that hold the spacing of GCs as the pod saw them.
	var hmu sync.Mutex
	hits := map[string]int{}
	calls := map[string][]int64{}
	mux.HandleFunc("/hits", func(w http.ResponseWriter, r *http.Request) {
		hmu.Lock()
		defer hmu.Unlock()
		json.NewEncoder(w).Encode(hits)
	})
	mux.HandleFunc("/calls", func(w http.ResponseWriter, r *http.Request) {
		hmu.Lock()
		defer hmu.Unlock()
		at := calls[r.URL.Query().Get("path")]
		if at == nil {
			at = []int64{}
		}
		json.NewEncoder(w).Encode(at)
	})
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hits" && r.URL.Path != "/calls" {
			hmu.Lock()
			hits[r.URL.Path]++
			at := append(calls[r.URL.Path], time.Now().UnixMilli())
			if len(at) > 100 {
				at = at[len(at)-100:]
			}
			calls[r.URL.Path] = at
			hmu.Unlock()
		}
		mux.ServeHTTP(w, r)
	})
	go func() {
		last := time.Now()
		for range time.Tick(100 * time.Millisecond) {
			now := time.Now()
			s.tick(now.Sub(last))
			last = now
		}
	}()
	log.Printf("leaky: mode %s, %.1f MiB/s, max %d MiB, on %s", *mode, *rate, *max, *listen)
	log.Fatal(http.ListenAndServe(*listen, counted))
}
