// Package deploy_test checks the deployment files beside it: the
// Kubernetes manifests against the Kubernetes schemas (offline, PyPI's
// kubernetes-validate), and the compose stack brought up for real on a
// private Docker engine (compose_test.go).
package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatewatch/gatewatch/internal/config"
)

// kubernetesValidateVersion is the PyPI release whose bundled schemas the
// manifests are checked against (Kubernetes 1.37 by default).
const kubernetesValidateVersion = "1.37.0"

func inCI() bool { return os.Getenv("CI") == "true" }

// skipOrFail skips outside CI and fails in CI (CI=true), where every part
// of the deployment must be checked.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func cacheDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(home, ".cache")
	}
	return filepath.Join(dir, "gatewatch")
}

// kubernetesValidate returns the kubernetes-validate of a venv cached
// under ~/.cache/gatewatch, making it on first use (~25 s).
func kubernetesValidate(t *testing.T) string {
	t.Helper()
	venv := filepath.Join(cacheDir(t), "kubernetes-validate-"+kubernetesValidateVersion)
	bin := filepath.Join(venv, "bin", "kubernetes-validate")
	done := filepath.Join(venv, "installed") // written last: a half-made venv is made again
	if _, err := os.Stat(done); err == nil {
		return bin
	}
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		if python, err = exec.LookPath("python3"); err != nil {
			skipOrFail(t, "python3 missing: cannot validate the Kubernetes manifests")
		}
	}
	// A venv's scripts name its path: it is made where it stays.
	os.RemoveAll(venv)
	if out, err := exec.Command(python, "-m", "venv", venv).CombinedOutput(); err != nil {
		os.RemoveAll(venv)
		skipOrFail(t, "python3 -m venv failed (apt-get install python3-venv): %v\n%s", err, out)
	}
	pip := exec.Command(filepath.Join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
		"kubernetes-validate=="+kubernetesValidateVersion)
	if out, err := pip.CombinedOutput(); err != nil {
		os.RemoveAll(venv)
		skipOrFail(t, "pip install kubernetes-validate: %v\n%s", err, out)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestK8sManifestsValidate checks deploy/k8s against the Kubernetes
// schemas (strict: an unknown field is an error), that the validator does
// catch a broken manifest, that every workload runs non-root on a read-only
// root filesystem with probes and limits, that detect has no more replicas
// than the events topic has partitions, that the ConfigMap's gatewatch.yaml
// and deploy/gatewatch.yaml are valid gatewatch configs, and that the image
// named in k8s/kustomization.yaml is the one of deploy/.env.
func TestK8sManifestsValidate(t *testing.T) {
	bin := kubernetesValidate(t)
	start := time.Now()
	out, err := exec.Command(bin, "--strict", "--no-warn", "k8s/gatewatch.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("kubernetes-validate k8s/gatewatch.yaml: %v\n%s", err, out)
	}
	passed := strings.Count(string(out), " passed for resource ")
	t.Logf("kubernetes-validate: %d resources passed in %v", passed, time.Since(start).Round(time.Millisecond))

	docs := readYAMLDocs(t, "k8s/gatewatch.yaml")
	if passed != len(docs) {
		t.Errorf("kubernetes-validate passed %d resources, the file holds %d:\n%s", passed, len(docs), out)
	}

	// The validator must reject what the API server would: a typo'd field
	// (strict) and a wrong type.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	raw, _ := os.ReadFile("k8s/gatewatch.yaml")
	broken := strings.Replace(string(raw), "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", 1)
	broken = strings.Replace(broken, "replicas: 3", "replicas: three", 1)
	if err := os.WriteFile(bad, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--strict", "--no-warn", bad).CombinedOutput(); err == nil {
		t.Errorf("kubernetes-validate accepted a broken manifest:\n%s", out)
	}

	kinds := map[string]int{}
	for _, d := range docs {
		kind, _ := d["kind"].(string)
		kinds[kind]++
		name := kind + "/" + str(dig(d, "metadata", "name"))
		switch kind {
		case "Deployment", "DaemonSet":
			checkPodSpec(t, name, dig(d, "spec", "template", "spec"))
		case "ConfigMap":
			for key, v := range dig(d, "data").(map[string]any) {
				checkGatewatchConfig(t, name+" "+key, []byte(v.(string)))
			}
		}
		if name == "Deployment/gatewatch-detect" {
			if r, _ := dig(d, "spec", "replicas").(int); r < 1 || r > 6 {
				t.Errorf("%s: %d replicas; want 1..6 (the events topic's partitions: more would idle)", name, r)
			}
		}
	}
	for _, k := range []string{"DaemonSet", "Deployment", "PodDisruptionBudget", "ConfigMap", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("k8s/gatewatch.yaml has no %s", k)
		}
	}
	if kinds["Deployment"] < 3 {
		t.Errorf("k8s/gatewatch.yaml has %d Deployments, want detect, store and alert", kinds["Deployment"])
	}

	raw, err = os.ReadFile("gatewatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkGatewatchConfig(t, "deploy/gatewatch.yaml", raw)

	// One image name: deploy/.env, and the kustomization agrees.
	image := envImage(t)
	kust := readYAMLDocs(t, "k8s/kustomization.yaml")[0]
	images, _ := kust["images"].([]any)
	if len(images) != 1 {
		t.Fatalf("k8s/kustomization.yaml: want one image, got %v", kust["images"])
	}
	im := images[0].(map[string]any)
	if got := str(im["newName"]) + ":" + str(im["newTag"]); got != image {
		t.Errorf("k8s/kustomization.yaml sets image %s, deploy/.env GATEWATCH_IMAGE=%s", got, image)
	}
	if str(im["name"]) != "gatewatch" {
		t.Errorf("k8s/kustomization.yaml replaces image %q, the manifests name \"gatewatch\"", im["name"])
	}
}

func checkPodSpec(t *testing.T, name string, spec any) {
	t.Helper()
	if v := dig(spec, "securityContext", "runAsNonRoot"); v != true {
		t.Errorf("%s: pod securityContext.runAsNonRoot is %v", name, v)
	}
	for _, c := range dig(spec, "containers").([]any) {
		cn := name + " container " + str(dig(c, "name"))
		if v := dig(c, "image"); v != "gatewatch" {
			t.Errorf("%s: image %v; want \"gatewatch\" (kustomization.yaml sets name and tag)", cn, v)
		}
		if v := dig(c, "securityContext", "readOnlyRootFilesystem"); v != true {
			t.Errorf("%s: readOnlyRootFilesystem is %v", cn, v)
		}
		if v := dig(c, "securityContext", "allowPrivilegeEscalation"); v != false {
			t.Errorf("%s: allowPrivilegeEscalation is %v", cn, v)
		}
		for _, p := range []string{"readinessProbe", "livenessProbe"} {
			if str(dig(c, p, "httpGet", "path")) != "/healthz" {
				t.Errorf("%s: %s is not GET /healthz", cn, p)
			}
		}
		if dig(c, "resources", "limits", "memory") == nil {
			t.Errorf("%s: no memory limit", cn)
		}
	}
}

// checkGatewatchConfig loads a config as gatewatch would (unknown keys are
// errors) and validates it.
func checkGatewatchConfig(t *testing.T, name string, b []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatewatch.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path, func(string) string { return "" }); err != nil {
		t.Errorf("%s is not a valid gatewatch config: %v", name, err)
	}
}

// envImage is GATEWATCH_IMAGE from deploy/.env, the one place that names
// the image.
func envImage(t *testing.T) string {
	t.Helper()
	f, err := os.Open(".env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "GATEWATCH_IMAGE="); ok {
			if !regexp.MustCompile(`^[a-z0-9./-]+:[A-Za-z0-9._-]+$`).MatchString(v) {
				t.Fatalf("deploy/.env: GATEWATCH_IMAGE=%q is not NAME:TAG", v)
			}
			return v
		}
	}
	t.Fatal("deploy/.env sets no GATEWATCH_IMAGE")
	return ""
}

func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// dig walks nested maps by key; nil when a step is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
