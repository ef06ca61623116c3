package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDeployConfigsLoad keeps the configs shipped under deploy/ (compose
// and the Kubernetes ConfigMap) valid for the strict config decoder.
func TestDeployConfigsLoad(t *testing.T) {
	t.Parallel()
	configs := map[string][]byte{}
	b, err := os.ReadFile("../../deploy/gatewatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	configs["deploy/gatewatch.yaml"] = b
	k8s, err := os.ReadFile("../../deploy/k8s/gatewatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(k8s))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind == "ConfigMap" {
			configs["deploy/k8s ConfigMap"] = []byte(doc.Data["gatewatch.yaml"])
		}
	}
	if len(configs) != 2 {
		t.Fatalf("found %d configs, want 2", len(configs))
	}
	for name, b := range configs {
		cfg := defaultConfig()
		if err := decodeConfig(b, &cfg); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := cfg.validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
