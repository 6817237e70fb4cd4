//go:build go1.20

package membudget

import "runtime/metrics"

// gcCPU reads the runtime's own CPU accounting (Go 1.20 and later):
// /cpu/classes/gc/total:cpu-seconds and /cpu/classes/total:cpu-seconds,
// which client_golang exports as go_cpu_classes_gc_total_cpu_seconds_total
// and go_cpu_classes_total_cpu_seconds_total.
func gcCPU() (gc, total float64) {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 || s[1].Value.Kind() != metrics.KindFloat64 {
		return -1, -1
	}
	return s[0].Value.Float64(), s[1].Value.Float64()
}
