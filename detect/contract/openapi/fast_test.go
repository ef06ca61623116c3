package openapi

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestPlainAgreesWithValidator: the shortcut past kin-openapi's validator
// never accepts a value the validator refuses, for the shop's parameters
// and for schemas with every keyword the shortcut reads.
func TestPlainAgreesWithValidator(t *testing.T) {
	s := loadShop(t)
	f := func(v float64) *float64 { return &v }
	yes := true
	schemas := []*openapi3.Schema{
		openapi3.NewInt32Schema(),
		openapi3.NewInt64Schema().WithMin(1).WithMax(99),
		openapi3.NewIntegerSchema().WithMin(0).WithExclusiveMin(true).WithMax(10).WithExclusiveMax(true),
		{Type: &openapi3.Types{"integer"}, ExclusiveMin: openapi3.ExclusiveBound{Value: f(-5)}, ExclusiveMax: openapi3.ExclusiveBound{Value: f(5)}},
		openapi3.NewFloat64Schema().WithMin(-90).WithMax(90),
		{Type: &openapi3.Types{"number"}, ExclusiveMin: openapi3.ExclusiveBound{Bool: &yes}, Min: f(0)},
		openapi3.NewStringSchema().WithMinLength(2).WithMaxLength(5),
		openapi3.NewStringSchema().WithPattern(`^\u00e9+$`),
		openapi3.NewStringSchema().WithPattern(`^[A-Z]{2}[0-9]*$`).WithMaxLength(4),
	}
	var params []*param
	for _, op := range s.ops {
		params = append(params, op.query...)
		params = append(params, op.inPath...)
	}
	for _, sc := range schemas {
		params = append(params, &param{item: sc, kinds: kindsOf(sc), plain: newPlain(sc, kindsOf(sc))})
	}
	values := []string{"", "0", "-0", "1", "-1", "5", "-5", "9", "10", "99", "100", "1000", "99999", "100000", "999999", "1000000",
		"2147483647", "2147483648", "-2147483649", "9223372036854775807", "-90", "90", "90.0", "90.0000001", "-180.5", "1e2", "1E-2",
		"ab", "abcde", "abcdef", "éé", "é", "AB", "AB12", "AB123", "ab12", "🎁🎁", "a\x00b", "x\r\ny", strings.Repeat("é", 300),
		"EUR", "books", "id", "0a1b2c3d", "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd", "/account", "//evil", "a@b.c", "2025-02-29"}
	r := rand.New(rand.NewPCG(7, 7))
	for range 3000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = "0123456789-.eE+AZaz é\x00/"[r.IntN(24)]
		}
		values = append(values, string(b))
	}
	checked := 0
	for _, p := range params {
		if p.plain == nil {
			continue
		}
		for _, v := range values {
			if !p.plain.accepts(v) {
				continue
			}
			checked++
			x, ok := convert(v, p.kinds)
			if !ok {
				t.Errorf("%s: the shortcut accepts %q, which does not convert", p.name, v)
				continue
			}
			if err := p.item.VisitJSON(x, s.opts...); err != nil {
				t.Errorf("%s: the shortcut accepts %q, the validator refuses it: %v", p.name, v, err)
			}
		}
	}
	if checked < 1000 {
		t.Errorf("only %d values accepted by the shortcut", checked)
	}
}
