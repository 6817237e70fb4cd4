//go:build !go1.20

package membudget

import (
	"runtime"
	"time"
)

// Before Go 1.20 runtime/metrics has no /cpu/classes. The same two figures
// come from what the runtime does publish: MemStats.GCCPUFraction is the
// GC's share of the CPU time available since the program started (GOMAXPROCS
// integrated over wall time), as of the end of the last GC cycle (LastGC).
// So: available = elapsed x GOMAXPROCS, and GC time = GCCPUFraction x the
// time available at LastGC. The start is this package's init, a few
// milliseconds after the runtime's own.
var started = time.Now()

func gcCPU() (gc, total float64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	procs := float64(runtime.GOMAXPROCS(0))
	now := time.Now()
	total = now.Sub(started).Seconds() * procs
	if m.NumGC == 0 {
		return 0, total
	}
	atGC := time.Unix(0, int64(m.LastGC)).Sub(started).Seconds() * procs
	if atGC < 0 {
		atGC = 0
	}
	return m.GCCPUFraction * atGC, total
}
