// helm-render renders a Helm chart the way `helm template` does, for the chart test
// (test/deploy/helm-chart.test.ts) on machines without a helm binary. It uses the same engine Helm
// uses: Go's text/template with the sprig functions and Helm's own additions (include, tpl, required,
// toYaml, fromYaml, lookup), "missingkey=zero" and "<no value>" blanked, values deep-merged with
// overrides, partials (files starting with "_") parsed but not emitted.
//
// Usage: [HELM_RENDER_KUBE_VERSION=v1.29.0] helm-render <chart-dir> <release-name> <namespace> [override-values.yaml ...]
// Output: the rendered documents on stdout, each headed "---\n# Source: <chart>/templates/<file>".
package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func readYaml(file string) map[string]interface{} {
	raw, err := os.ReadFile(file)
	if err != nil {
		fail("%v", err)
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(raw, &out); err != nil {
		fail("%s: %v", file, err)
	}
	return out
}

// merge follows Helm's coalescing: maps merge recursively, a null override deletes the key.
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = merge(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "helm-render: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: helm-render <chart-dir> <release> <namespace> [values.yaml ...]")
	}
	chartDir, release, namespace := os.Args[1], os.Args[2], os.Args[3]
	meta := readYaml(filepath.Join(chartDir, "Chart.yaml"))
	values := readYaml(filepath.Join(chartDir, "values.yaml"))
	for _, f := range os.Args[4:] {
		values = merge(values, readYaml(f))
	}
	chartName, _ := meta["name"].(string)
	// The cluster version templates see in .Capabilities (helm template's --kube-version).
	kubeVersion := os.Getenv("HELM_RENDER_KUBE_VERSION")
	if kubeVersion == "" {
		kubeVersion = "v1.30.0"
	}
	kubeParts := strings.SplitN(strings.TrimPrefix(kubeVersion, "v"), ".", 3)
	for len(kubeParts) < 2 {
		kubeParts = append(kubeParts, "0")
	}
	chart := map[string]interface{}{}
	for k, v := range meta {
		// Helm exposes Chart.yaml fields capitalised (.Chart.Name, .Chart.AppVersion).
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}

	root := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = func(v interface{}) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, fmt.Errorf(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, fmt.Errorf(msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(string, string, string, string) map[string]interface{} { return map[string]interface{}{} }
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
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
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	root.Funcs(funcs)

	templatesDir := filepath.Join(chartDir, "templates")
	var files []string
	err := filepath.WalkDir(templatesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".tpl") || strings.HasSuffix(p, ".txt")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	sort.Strings(files)
	for _, f := range files {
		rel, _ := filepath.Rel(chartDir, f)
		name := chartName + "/" + filepath.ToSlash(rel)
		raw, err := os.ReadFile(f)
		if err != nil {
			fail("%v", err)
		}
		if _, err := root.New(name).Parse(string(raw)); err != nil {
			fail("parse %s: %v", name, err)
		}
	}

	var out bytes.Buffer
	for _, f := range files {
		rel, _ := filepath.Rel(chartDir, f)
		name := chartName + "/" + filepath.ToSlash(rel)
		if strings.HasPrefix(filepath.Base(f), "_") || strings.HasSuffix(f, ".txt") {
			continue
		}
		data := map[string]interface{}{
			"Values":  values,
			"Chart":   chart,
			"Release": map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Capabilities": map[string]interface{}{
				"KubeVersion": map[string]interface{}{"Version": kubeVersion, "Major": kubeParts[0], "Minor": kubeParts[1]},
				"APIVersions": apiVersions{"v1", "apps/v1", "policy/v1", "networking.k8s.io/v1", "autoscaling/v2", "monitoring.coreos.com/v1"},
			},
			"Template": map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			fail("render %s: %v", name, err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(text))
	}
	os.Stdout.Write(out.Bytes())
}
