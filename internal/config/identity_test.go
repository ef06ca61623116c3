package config

import (
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestSecurityIdentityOptions: ingest.identity reaches the normaliser, and
// claims are not trusted unless the file says so.
func TestSecurityIdentityOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		want ingest.IdentityOptions
	}{
		{"", ingest.IdentityOptions{}},
		{"ingest: {identity: {verified_field: x-jwt-verified}}", ingest.IdentityOptions{VerifiedField: "x-jwt-verified"}},
		{"ingest: {identity: {trust_claims: true}}", ingest.IdentityOptions{TrustClaims: true}},
	} {
		cfg := Default()
		if err := Decode([]byte(tc.yaml), &cfg); err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		opts, err := cfg.NormalizerOptions([]byte("k"))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if opts.Identity != tc.want {
			t.Errorf("%q: identity %+v, want %+v", tc.yaml, opts.Identity, tc.want)
		}
	}
}
