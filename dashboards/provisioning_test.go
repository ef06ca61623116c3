package dashboards

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestProvisioningExamples checks deploy/grafana's examples parse and
// provision what the dashboards expect: the ClickHouse plugin over the
// native protocol, the password from a file or the environment, and a
// file provider.
func TestProvisioningExamples(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "deploy", "grafana", "provisioning")

	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Type           string            `yaml:"type"`
			JSONData       map[string]any    `yaml:"jsonData"`
			SecureJSONData map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(dir, "datasources", "gatewatch-clickhouse.yaml"), &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources: %+v", ds)
	}
	d := ds.Datasources[0]
	if d.Type != PluginID || d.JSONData["protocol"] != "native" || d.JSONData["secure"] != true {
		t.Errorf("datasource: type %q protocol %v secure %v; want %s, native, true", d.Type, d.JSONData["protocol"], d.JSONData["secure"], PluginID)
	}
	if _, ok := d.JSONData["port"].(int); !ok {
		t.Errorf("datasource: port %v is not a number", d.JSONData["port"])
	}
	if p := d.SecureJSONData["password"]; !strings.HasPrefix(p, "$__file{") && !strings.HasPrefix(p, "$__env{") {
		t.Errorf("datasource: password %q: want it from $__file{...} or $__env{...}", p)
	}

	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type    string            `yaml:"type"`
			Options map[string]string `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(dir, "dashboards", "gatewatch.yaml"), &dp)
	if dp.APIVersion != 1 || len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options["path"] == "" {
		t.Errorf("dashboard provider: %+v", dp)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
