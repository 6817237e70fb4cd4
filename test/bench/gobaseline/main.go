// Command gobaseline is the benchmark's yardstick: an admission webhook
// written the ordinary Go way (net/http + encoding/json, standard library
// only) that performs the same /validate checks as membudget on a pod:
// decode the AdmissionReview, parse the budget quantity, the tiers and the
// endpoints, resolve ports against the target container, compare the budget
// with the memory limit, and answer with every violation.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

type review struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    *struct {
		UID       string `json:"uid"`
		Kind      struct{ Group, Version, Kind string } `json:"kind"`
		Operation string          `json:"operation"`
		Object    json.RawMessage `json:"object"`
	} `json:"request"`
}

type port struct {
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

type container struct {
	Name      string `json:"name"`
	Ports     []port `json:"ports"`
	Resources struct {
		Limits map[string]string `json:"limits"`
	} `json:"resources"`
}

type pod struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Containers []container `json:"containers"`
	} `json:"spec"`
}

var qtyRe = regexp.MustCompile(`^([+-]?[0-9]*\.?[0-9]*)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$`)

// quantity parses a Kubernetes memory quantity exactly (big.Rat), rounding up.
func quantity(s string) (int64, error) {
	m := qtyRe.FindStringSubmatch(s)
	if m == nil || m[1] == "" || m[1] == "." || m[1] == "+" || m[1] == "-" {
		return 0, fmt.Errorf("%q: malformed quantity", s)
	}
	r, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, fmt.Errorf("%q: malformed number", s)
	}
	mult := map[string]*big.Rat{"": big.NewRat(1, 1), "m": big.NewRat(1, 1000), "k": big.NewRat(1000, 1),
		"Ki": big.NewRat(1<<10, 1), "Mi": big.NewRat(1<<20, 1), "Gi": big.NewRat(1<<30, 1),
		"Ti": big.NewRat(1<<40, 1), "Pi": big.NewRat(1<<50, 1), "Ei": big.NewRat(1<<60, 1),
		"M": big.NewRat(1e6, 1), "G": big.NewRat(1e9, 1), "T": big.NewRat(1e12, 1),
		"P": big.NewRat(1e15, 1), "E": big.NewRat(1e18, 1)}
	if f, ok := mult[m[2]]; ok {
		r.Mul(r, f)
	} else {
		e, err := strconv.Atoi(m[2][1:])
		if err != nil {
			return 0, err
		}
		r.Mul(r, new(big.Rat).SetFrac(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil), big.NewInt(1)))
		if e < 0 {
			r.Inv(r)
		}
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("%q: must not be negative", s)
	}
	q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("%q: overflows int64", s)
	}
	return q.Int64(), nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func tiers(v string) error {
	vals := map[string]int{}
	for _, item := range strings.Split(v, ",") {
		kv := strings.SplitN(strings.TrimSpace(item), "=", 2)
		if len(kv) != 2 {
			return fmt.Errorf("%q: expected NAME=PERCENT items", v)
		}
		n, err := strconv.Atoi(strings.TrimSpace(kv[1]))
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("%q: %s must be an integer percentage in (0, 100]", v, kv[0])
		}
		vals[strings.TrimSpace(kv[0])] = n
	}
	last := 0
	for _, t := range []string{"throttle", "gc", "evict"} {
		if n, ok := vals[t]; ok {
			if n <= last {
				return fmt.Errorf("%q: thresholds must increase throttle < gc < evict", v)
			}
			last = n
		}
	}
	return nil
}

func endpoint(v string, c *container) error {
	i := strings.IndexByte(v, '/')
	if i <= 0 {
		return fmt.Errorf("%q: expected PORT/PATH", v)
	}
	p := v[:i]
	for _, cp := range c.Ports {
		if cp.Name == p || strconv.Itoa(cp.ContainerPort) == p {
			return nil
		}
	}
	return fmt.Errorf("port %s is not declared by container %q", p, c.Name)
}

func validate(p *pod) []string {
	var v []string
	a := p.Metadata.Annotations
	path := func(k string) string { return "metadata.annotations[" + k + "]" }
	var target *container
	if len(p.Spec.Containers) > 0 {
		target = &p.Spec.Containers[0]
	}
	if name, ok := a["membudget.io/container"]; ok {
		target = nil
		for i := range p.Spec.Containers {
			if p.Spec.Containers[i].Name == name {
				target = &p.Spec.Containers[i]
			}
		}
		if target == nil {
			v = append(v, path("membudget.io/container")+": no such container")
		}
	}
	if t, ok := a["membudget.io/tiers"]; ok {
		if err := tiers(t); err != nil {
			v = append(v, path("membudget.io/tiers")+": "+err.Error())
		}
	}
	b, ok := a["membudget.io/budget"]
	if !ok {
		v = append(v, path("membudget.io/budget")+": required")
	} else if budget, err := quantity(b); err != nil {
		v = append(v, path("membudget.io/budget")+": "+err.Error())
	} else if target != nil {
		if l, ok := target.Resources.Limits["memory"]; !ok {
			v = append(v, "spec.containers[0].resources.limits.memory: required when membudget.io/budget is set")
		} else if limit, err := quantity(l); err != nil {
			v = append(v, "spec.containers[0].resources.limits.memory: "+err.Error())
		} else if budget > limit {
			v = append(v, path("membudget.io/budget")+": exceeds the memory limit")
		}
	}
	for _, k := range []string{"membudget.io/metrics", "membudget.io/gc", "membudget.io/profile"} {
		if e, ok := a[k]; ok && target != nil {
			if err := endpoint(e, target); err != nil {
				v = append(v, path(k)+": "+err.Error())
			}
		}
	}
	return v
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9443", "listen address")
	cert := flag.String("cert", "", "TLS certificate")
	key := flag.String("key", "", "TLS key")
	flag.Parse()
	http.HandleFunc("/validate", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 3<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		var rev review
		if err := json.Unmarshal(body, &rev); err != nil || rev.Request == nil || rev.Request.UID == "" {
			http.Error(w, "invalid AdmissionReview", http.StatusBadRequest)
			return
		}
		resp := map[string]interface{}{"uid": rev.Request.UID, "allowed": true}
		if rev.Request.Kind.Kind == "Pod" && (rev.Request.Operation == "CREATE" || rev.Request.Operation == "UPDATE") {
			var p pod
			if err := json.Unmarshal(rev.Request.Object, &p); err != nil {
				http.Error(w, "invalid pod", http.StatusBadRequest)
				return
			}
			if v := validate(&p); len(v) > 0 {
				resp["allowed"] = false
				resp["status"] = map[string]interface{}{"code": 403, "reason": "Forbidden", "message": strings.Join(v, "; ")}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]interface{}{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})
	})
	srv := &http.Server{Addr: *addr, TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	log.Fatal(srv.ListenAndServeTLS(*cert, *key))
}
