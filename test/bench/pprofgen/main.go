// pprofgen: two large heap profiles of one "service" for make bench
// (test/bench/forensics_bench.sh): the shape of a big Go service's heap
// profile (thousands of functions, deep stacks, inline frames), sized by
// -samples (80000 make about 5 MiB gzipped), the second grown in a few
// functions. Written with pprof's own profile package, as Go writes them.
//
//	go run . -out DIR [-samples N]
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"

	"github.com/google/pprof/profile"
)

func build(r *rand.Rand, nfn, nsamples int, grow map[int]int64) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "alloc_objects", Unit: "count"},
			{Type: "alloc_space", Unit: "bytes"}, {Type: "inuse_objects", Unit: "count"},
			{Type: "inuse_space", Unit: "bytes"}},
		DefaultSampleType: "inuse_space",
		PeriodType:        &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:            512 * 1024,
		TimeNanos:         1796700000000000000,
	}
	m := &profile.Mapping{ID: 1, Start: 0x400000, Limit: 0x4000000, File: "/app/service",
		HasFunctions: true, HasFilenames: true, HasLineNumbers: true, HasInlineFrames: true}
	p.Mapping = []*profile.Mapping{m}
	for i := 0; i < nfn; i++ {
		p.Function = append(p.Function, &profile.Function{ID: uint64(i + 1),
			Name:     fmt.Sprintf("github.com/shop/service/internal/pkg%03d.(*Handler%d).serve%d", i%400, i%37, i),
			Filename: fmt.Sprintf("/src/internal/pkg%03d/handler.go", i%400), StartLine: int64(10 + i%500)})
	}
	// a location per function, every eighth with an inlined callee
	for i := 0; i < nfn; i++ {
		lines := []profile.Line{{Function: p.Function[i], Line: int64(20 + i%300)}}
		if i%8 == 0 {
			lines = append([]profile.Line{{Function: p.Function[(i+1)%nfn], Line: 5}}, lines...)
		}
		p.Location = append(p.Location, &profile.Location{ID: uint64(i + 1), Mapping: m,
			Address: uint64(0x401000 + 16*i), Line: lines})
	}
	for s := 0; s < nsamples; s++ {
		depth := 8 + r.Intn(40)
		var locs []*profile.Location
		for d := 0; d < depth; d++ {
			locs = append(locs, p.Location[r.Intn(nfn)])
		}
		leaf := int(locs[0].ID - 1)
		n := int64(1 + r.Intn(50))
		sz := n * int64(16<<r.Intn(8))
		if g, ok := grow[1000+leaf%2]; ok && leaf%97 == 0 {
			sz += g // the leak: a few functions hold more
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs,
			Value: []int64{n * 3, sz * 3, n, sz}})
	}
	return p
}

func write(p *profile.Profile, path string) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func main() {
	out := flag.String("out", ".", "directory for base.pb.gz and cur.pb.gz")
	samples := flag.Int("samples", 80000, "samples per profile")
	flag.Parse()
	write(build(rand.New(rand.NewSource(1)), 6000, *samples, map[int]int64{}), filepath.Join(*out, "base.pb.gz"))
	write(build(rand.New(rand.NewSource(2)), 6000, *samples, map[int]int64{1000: 1 << 20, 1001: 256 << 10}),
		filepath.Join(*out, "cur.pb.gz"))
}
