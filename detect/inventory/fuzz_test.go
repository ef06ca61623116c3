package inventory

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecode: a corrupted or hostile state file is an error, never a
// panic, and whatever loads can be observed into, listed, saved and
// loaded again.
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	if err := sample(300).Encode(&buf); err != nil {
		f.Fatal(err)
	}
	good := buf.String()
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add(strings.Replace(good, `"version": 1`, `"version": 99`, 1))
	f.Add(`{"format":"gatewatch.endpoint-inventory","version":1,"max_endpoints":-5,"endpoints":[]}`)
	f.Add(`{"format":"gatewatch.endpoint-inventory","version":1,"endpoints":[{"route":"/x","requests":9223372036854775807,` +
		`"anonymous":9223372036854775807,"status":{"2xx":9223372036854775807},"clients_hll":"` + strings.Repeat("A", 344) + `","sizes_hist":[[0,65535],[0,65535]]}]}`)
	f.Add(`{"format":"gatewatch.endpoint-inventory","version":1,"endpoints":[{"route":"/x","first_seen":"9999-12-31T23:59:59Z","last_seen":"9999-12-31T23:59:59Z","clients_hll":"` + strings.Repeat("/", 344) + `"}]}`)
	f.Add("null")
	f.Fuzz(func(t *testing.T, text string) {
		inv, err := Decode(strings.NewReader(text))
		if err != nil {
			return
		}
		for i := range 50 {
			inv.Observe(sampleEvent(i))
		}
		_ = inv.Endpoints()
		var out bytes.Buffer
		if err := inv.Encode(&out); err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(&out); err != nil {
			t.Fatalf("a loaded inventory, saved again, does not load: %v", err)
		}
	})
}
