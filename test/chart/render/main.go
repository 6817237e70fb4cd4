// render: a small stand-in for `helm template`, for the chart tests (Helm
// itself cannot be installed on the build machines). It loads a chart
// directory, merges values files over values.yaml, and renders every
// template with Go's text/template plus sprig (Debian's
// golang-github-masterminds-sprig-dev) and Helm's own extra functions:
// include, tpl, required, toYaml, fromYaml, toJson, lookup (always empty).
// Built-in objects: .Values .Release .Chart .Capabilities .Template.
//
//	render CHART_DIR [-f values.yaml]... [--namespace NS] [--name RELEASE]
//
// Output: every rendered manifest as "---\n# Source: CHART/templates/F\n...",
// like helm template; NOTES.txt is rendered (errors count) but not printed.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yamlv2 "gopkg.in/yaml.v2"
	"gopkg.in/yaml.v3"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", a...)
	os.Exit(1)
}

func readYAML(path string) map[string]interface{} {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		fail("%s: %v", path, err)
	}
	return out
}

// merge src over dst, as helm merges values files (maps deep, the rest replaced).
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// toYaml writes what Helm's does (sigs.k8s.io/yaml: yaml.v2's layout, keys
// sorted, a list under a key not indented).
func toYaml(v interface{}) string {
	b, err := yamlv2.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--json" {
		toJSON(args[1:])
		return
	}
	if len(args) < 1 {
		fail("usage: render CHART_DIR [-f values.yaml]... [--namespace NS] [--name RELEASE]\n       render --json FILE... (each YAML document as a line of JSON)")
	}
	chart := args[0]
	var vfiles files
	ns, name := "membudget", "membudget"
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "-f":
			i++
			vfiles = append(vfiles, args[i])
		case "--namespace":
			i++
			ns = args[i]
		case "--name":
			i++
			name = args[i]
		default:
			fail("unknown argument %s", args[i])
		}
	}
	meta := readYAML(filepath.Join(chart, "Chart.yaml"))
	values := readYAML(filepath.Join(chart, "values.yaml"))
	for _, f := range vfiles {
		values = merge(values, readYAML(f))
	}
	chartObj := map[string]interface{}{}
	for k, v := range meta {
		chartObj[strings.ToUpper(k[:1])+k[1:]] = v
	}
	top := map[string]interface{}{
		"Values":  values,
		"Chart":   chartObj,
		"Release": map[string]interface{}{"Name": name, "Namespace": ns, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30"},
			"APIVersions": apiVersions{},
		},
	}

	tpls, _ := filepath.Glob(filepath.Join(chart, "templates", "*"))
	sort.Strings(tpls)
	root := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = toYaml
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		_ = yaml.Unmarshal([]byte(s), &m)
		return m
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	funcs["include"] = func(string, interface{}) (string, error) { return "", nil }
	funcs["tpl"] = func(string, interface{}) (string, error) { return "", nil }
	root.Funcs(funcs)
	// include and tpl need the template set itself.
	funcs["include"] = func(n string, data interface{}) (string, error) {
		var b bytes.Buffer
		err := root.ExecuteTemplate(&b, n, data)
		return b.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		err = t.Execute(&b, data)
		return b.String(), err
	}
	root.Funcs(funcs)
	chartName, _ := meta["name"].(string)
	// Templates are named as Helm names them: CHART/templates/FILE.
	for _, f := range tpls {
		data, err := os.ReadFile(f)
		if err != nil {
			fail("%v", err)
		}
		if _, err := root.New(chartName + "/templates/" + filepath.Base(f)).Parse(string(data)); err != nil {
			fail("%s: %v", f, err)
		}
	}
	var out bytes.Buffer
	for _, f := range tpls {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") {
			continue
		}
		var b bytes.Buffer
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": chartName + "/templates/" + base, "BasePath": chartName + "/templates"}
		if err := root.ExecuteTemplate(&b, chartName+"/templates/"+base, data); err != nil {
			fail("%s: %v", base, err)
		}
		if base == "NOTES.txt" || strings.TrimSpace(b.String()) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s/templates/%s\n%s\n", chartName, base, strings.TrimSpace(b.String()))
	}
	os.Stdout.Write(out.Bytes())
}

// apiVersions answers .Capabilities.APIVersions.Has: the renderer assumes
// the optional APIs (cert-manager, the Prometheus Operator) exist, so the
// chart's own values decide.
type apiVersions struct{}

func (apiVersions) Has(string) bool { return true }

// toJSON prints every YAML document of each file as one line of JSON (empty
// documents skipped): what the checks compare, without a cluster.
func toJSON(paths []string) {
	out := json.NewEncoder(os.Stdout)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			fail("%v", err)
		}
		dec := yaml.NewDecoder(f)
		for n := 1; ; n++ {
			var doc interface{}
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fail("%s: document %d: %v", p, n, err)
			}
			if doc == nil {
				continue
			}
			if err := out.Encode(doc); err != nil {
				fail("%s: document %d: %v", p, n, err)
			}
		}
		f.Close()
	}
}
