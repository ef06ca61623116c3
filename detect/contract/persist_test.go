package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
)

// apiStream is n requests to a shop API and a website beside it, with
// what a contract must keep across a save: enums (one of non-UTF-8
// values), parameters of every kind, a route with more parameters than
// MaxParams, API versions, a served file extension, a tree of files each
// asked for by one client, a client alone on a route in both halves of
// the stream, a poisoner and refused attacks.
func apiStream(n int) []*ingest.Event {
	r := rand.New(rand.NewPCG(3, 4))
	sorts := []string{"price", "name", "rating"}
	langs := []string{"de", "en", "fr", "it", "\xffx"}
	var out []*ingest.Event
	add := func(client, host, method, route, path, query string, status int) {
		ev := event(client, method, route, path, query, status)
		ev.Host = host
		if strings.HasPrefix(path, "/api/v") {
			ev.APIVersion = path[5:7]
		}
		out = append(out, ev)
	}
	for i := range n {
		c := fmt.Sprintf("10.0.%d.%d", i%3, i%40)
		switch i % 10 {
		case 0, 1, 2:
			q := fmt.Sprintf("page=%d&sort=%s&q=%s&lang=%s", 1+r.IntN(40), sorts[r.IntN(3)], strings.Repeat("shoe+", 1+r.IntN(4)),
				strings.ReplaceAll(langs[r.IntN(5)], "\xff", "%FF"))
			add(c, "shop.example", "GET", "/api/v2/products", "/api/v2/products", q, 200)
		case 3:
			add(c, "shop.example", "GET", "/api/v2/products/{id}", fmt.Sprintf("/api/v2/products/%d", r.IntN(9999)), "fields=name,price", 200)
		case 4:
			q := fmt.Sprintf("qty=%d&sku=a%07x&ship=%d-0%d-1%d&ref=%x", 1+r.IntN(99), r.IntN(1<<28), 2020+r.IntN(6), 1+r.IntN(9), r.IntN(10),
				r.Uint64())
			add(c, "shop.example", "POST", "/api/v2/orders", "/api/v2/orders", q, 201)
		case 5:
			q := fmt.Sprintf("token=%s&user=u%d%%40example.com&id=%08x-aaaa-bbbb-cccc-%012x&ok=%v&x=%d.%d&%%FEname=1&bad=%%zz",
				strings.Repeat("QUJD", 5+r.IntN(3)), r.IntN(99), r.Uint32(), r.Uint64()&(1<<48-1), r.IntN(2) == 0, r.IntN(9), r.IntN(99))
			if r.IntN(4) == 0 {
				q = "token=" + ingest.Redacted
			}
			add(c, "shop.example", "GET", "/api/v2/session", "/api/v2/session", q, 200)
		case 6:
			add(c, "shop.example", "GET", "/api/v2/report", "/api/v2/report", fmt.Sprintf("p%d=%d", r.IntN(60), r.IntN(9)), 200)
		case 7:
			f := fmt.Sprintf("/downloads/file-%d.gz", i)
			add(c, "shop.example", "GET", f, f, "", 200)
		case 8:
			p := fmt.Sprintf("/posts/%d-a-post", i)
			add(c, "blog.example", "GET", p, p, "utm_source=x", 200)
		case 9:
			add(c, "shop.example", "GET", "/api/v3/products", "/api/v3/products", "page=1", 200)
		}
		if i%97 == 0 {
			add("198.51.100.7", "shop.example", "GET", "/api/v2/secret", "/api/v2/secret", "", 200)
		}
	}
	add("203.0.113.66", "shop.example", "GET", "/api/v2/products", "/api/v2/products", "page=1'--&debug=1&q="+strings.Repeat("A", 500), 200)
	add("203.0.113.66", "shop.example", "GET", "/api/v1/products", "/api/v1/products", "page=1", 200)
	add("203.0.113.68", "shop.example", "GET", "/api/v2/products", "/api/v2/products", "page=1%20OR%201=1", 500)
	add("203.0.113.69", "shop.example", "GET", "/api/v2/products", "/api/v2/products", "page=1%20OR%201=1", 500)
	return out
}

// battery is requests to check models against: the stream's own, with
// values, names, methods, routes and versions changed for odd ones.
func battery(stream []*ingest.Event) []*ingest.Event {
	r := rand.New(rand.NewPCG(5, 6))
	odd := []string{"1' OR 1=1", "%3Cscript%3E", strings.Repeat("x", 300), "a%0d%0ab", "..%2f..", "-5", "abc", "", "%FF", "%zz",
		"de", "%FFx", "price", "QUJDQUJDQUJDQUJDQUJD", "2026-03-02", "u1%40example.com", "REDACTED", "9f8e7d6c5b", "100000", "75"}
	var out []*ingest.Event
	for i, ev := range stream {
		if i%7 != 0 {
			continue
		}
		e := *ev
		switch r.IntN(8) {
		case 0, 1:
			if name, _, ok := strings.Cut(e.Query, "="); ok {
				e.Query = name + "=" + odd[r.IntN(len(odd))]
			}
		case 2:
			e.Query += "&debug=" + odd[r.IntN(len(odd))]
		case 3:
			e.Method = "DELETE"
		case 4:
			e.Route, e.Path = e.Route+"/admin", e.Path+"/admin"
		case 5:
			e.Path = e.Path + []string{".bak", "/.env", ".gz", "/../../etc/passwd"}[r.IntN(4)]
			e.Route = e.Path
		case 6:
			e.APIVersion = []string{"v1", "v3", "v9"}[r.IntN(3)]
		}
		out = append(out, &e)
	}
	secret := event("x", "GET", "/api/v2/secret", "/api/v2/secret", "", 200)
	secret.Host = "shop.example"
	return append(out, secret)
}

// checks is what m says of each request of evs, one line each.
func checks(m *Model, evs []*ingest.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("%s %s %s?%s %s: %+v", ev.Host, ev.Method, ev.Path, ev.Query, ev.APIVersion, m.Check(ev, nil))
	}
	return out
}

// sameChecks fails t when models a and b check evs differently, or list
// different routes.
func sameChecks(t *testing.T, a, b *Model, evs []*ingest.Event) {
	t.Helper()
	ca, cb := checks(a, evs), checks(b, evs)
	diff, flagged := 0, 0
	for i := range ca {
		if !strings.HasSuffix(ca[i], ": []") {
			flagged++
		}
		if ca[i] != cb[i] {
			if diff++; diff <= 5 {
				t.Errorf("checks differ:\n  %s\n  %s", ca[i], cb[i])
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d of %d checks differ", diff, len(ca))
	}
	if flagged < len(ca)/4 {
		t.Errorf("only %d of %d requests flagged: the battery tests too little", flagged, len(ca))
	}
	if ra, rb := fmt.Sprint(a.Routes()), fmt.Sprint(b.Routes()); ra != rb {
		t.Errorf("routes differ:\n  %s\n  %s", ra, rb)
	}
}

func encode(t testing.TB, m *Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSipHash: the client hash is SipHash-2-4, by the reference vectors.
func TestSipHash(t *testing.T) {
	k0, k1 := uint64(0x0706050403020100), uint64(0x0f0e0d0c0b0a0908)
	msg := string([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14})
	for _, tt := range []struct {
		n    int
		want uint64
	}{{0, 0x726fdb47dd0e0e31}, {1, 0x74f839c593dc67fd}, {8, 0x93f5f5799a932462}, {15, 0xa129ca6149be45e5}} {
		if got := sipHash(k0, k1, msg[:tt.n]); got != tt.want {
			t.Errorf("SipHash-2-4 of %d bytes: %#x, want %#x", tt.n, got, tt.want)
		}
	}
}

// TestRoundTripFrozen: a frozen model, encoded and decoded, checks as the
// original does, lists the same routes, and encodes the same.
func TestRoundTripFrozen(t *testing.T) {
	stream := apiStream(6000)
	for _, tt := range []struct {
		name   string
		m      *Model
		stream []*ingest.Event
	}{{"shop", learnShop(t), shopStream()}, {"api stream", learnAll(stream, Options{}), stream},
		{"min clients 3", learnAll(stream, Options{MinClients: 3}), stream}} {
		t.Run(tt.name, func(t *testing.T) {
			b := encode(t, tt.m)
			got, err := Decode(bytes.NewReader(b), tt.m.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Frozen() {
				t.Error("decoded model not frozen")
			}
			sameChecks(t, tt.m, got, battery(tt.stream))
			if again := encode(t, got); !bytes.Equal(again, b) {
				t.Error("decoded model encodes differently")
			}
			if a, b := tt.m.Stats(), got.Stats(); a.Routes != b.Routes || a.KnownRoutes != b.KnownRoutes || a.Params != b.Params {
				t.Errorf("stats %+v, want %+v", b, a)
			}
		})
	}
}

// shopStream is requests like those learnShop learns from.
func shopStream() []*ingest.Event {
	r := rand.New(rand.NewPCG(9, 10))
	var out []*ingest.Event
	for i := range 2000 {
		c := fmt.Sprintf("10.0.0.%d", i%50)
		q := fmt.Sprintf("page=%d&sort=%s&q=%s", 1+r.IntN(40), []string{"price", "name", "rating"}[r.IntN(3)], strings.Repeat("shoe+", 1+r.IntN(4)))
		out = append(out, event(c, "GET", "/api/v2/products", "/api/v2/products", q, 200),
			event(c, "GET", "/api/v2/products/{id}", fmt.Sprintf("/api/v2/products/%d", i), "", 200),
			event(c, "POST", "/api/v2/orders", "/api/v2/orders", fmt.Sprintf("qty=%d&sku=a%07x", 1+r.IntN(99), r.IntN(1<<28)), 201))
	}
	return out
}

func learnAll(evs []*ingest.Event, opts Options) *Model {
	m := New(opts)
	for _, ev := range evs {
		m.Learn(ev)
	}
	m.Freeze()
	return m
}

// TestResume: learning half a stream, saving, loading and learning the
// rest freezes to the same contract as learning it all at once.
func TestResume(t *testing.T) {
	stream := apiStream(6000)
	want := learnAll(stream, Options{})
	evs := battery(stream)
	for _, tt := range []struct {
		name  string
		split int
		file  bool
	}{{"nothing learnt", 0, false}, {"a tenth", len(stream) / 10, true}, {"half", len(stream) / 2, false},
		{"half, through a file", len(stream) / 2, true}, {"all learnt", len(stream), true}} {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{})
			for _, ev := range stream[:tt.split] {
				m.Learn(ev)
			}
			var err error
			if tt.file {
				path := filepath.Join(t.TempDir(), "contract.json")
				if err := m.Save(path); err != nil {
					t.Fatal(err)
				}
				m, err = Load(path, Options{})
			} else {
				m, err = Decode(bytes.NewReader(encode(t, m)), Options{})
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Frozen() {
				t.Fatal("decoded model frozen")
			}
			for _, ev := range stream[tt.split:] {
				m.Learn(ev)
			}
			m.Freeze()
			sameChecks(t, want, m, evs)
		})
	}
}

// TestResumeKeepsClients: one client alone on a route before and after a
// save is still one client, so the route stays out of the contract.
func TestResumeKeepsClients(t *testing.T) {
	ev := event("198.51.100.7", "GET", "/api/v2/secret", "/api/v2/secret", "", 200)
	m := New(Options{})
	m.Learn(event("10.0.0.1", "GET", "/api/v2/orders", "/api/v2/orders", "", 200))
	m.Learn(event("10.0.0.2", "GET", "/api/v2/orders", "/api/v2/orders", "", 200))
	m.Learn(ev)
	m, err := Decode(bytes.NewReader(encode(t, m)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.Learn(ev)
	m.Freeze()
	if vs := m.Check(ev, nil); len(vs) != 1 || vs[0].Reason != UnknownRoute {
		t.Errorf("a route of one client, before and after a save: %+v, want unknown_route", vs)
	}
}

// TestDecodeRejects: input that is not a model this gatewatch saves, or
// holds more than the options allow, is an error wrapping ErrFormat that
// says what is wrong.
func TestDecodeRejects(t *testing.T) {
	frozen, learning := learnShop(t), New(Options{})
	for _, ev := range apiStream(3000) {
		learning.Learn(ev)
	}
	for _, tt := range rejectCases {
		t.Run(tt.name, func(t *testing.T) {
			m := frozen
			if tt.learning {
				m = learning
			}
			f := m.saved()
			if tt.edit != nil {
				tt.edit(f)
			}
			b, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if tt.raw != nil {
				s = tt.raw(s)
			}
			got, err := Decode(strings.NewReader(s), tt.opts)
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one wrapping ErrFormat saying %q", err, tt.want)
			}
			if got != nil {
				t.Error("a model as well as an error")
			}
		})
	}
}

// rejectCases are TestDecodeRejects': each edits learnShop's saved model
// (or one of apiStream still learning), or the JSON, and says what the
// error must say.
var rejectCases = []struct {
	name     string
	learning bool // start from the model still learning
	opts     Options
	edit     func(f *savedModel)
	raw      func(s string) string
	want     string
}{
	{name: "format", edit: func(f *savedModel) { f.Format = "gatewatch.endpoint-inventory" }, want: `format "gatewatch.endpoint-inventory"`},
	{name: "version", edit: func(f *savedModel) { f.Version = 2 }, want: "unknown version 2"},
	{name: "short key", edit: func(f *savedModel) { f.Key = "abc" }, want: "key of 3 characters"},
	{name: "key not hex", edit: func(f *savedModel) { f.Key = strings.Repeat("z", 32) }, want: "key: "},
	{name: "more routes than MaxRoutes", opts: Options{MaxRoutes: 3}, want: "4 routes, more than MaxRoutes 3"},
	{name: "more params than MaxParams", opts: Options{MaxParams: 2}, want: "4 parameters, more than MaxParams 2"},
	{name: "no route", edit: func(f *savedModel) { f.Routes[0].Route = "" }, want: "no route template"},
	{name: "route twice", edit: func(f *savedModel) { f.Routes[1] = f.Routes[0] }, want: "route appears twice"},
	{name: "param twice", edit: func(f *savedModel) { p := products(f); p.Params[1] = p.Params[0] }, want: `parameter "debug" appears twice`},
	{name: "support of 4", edit: func(f *savedModel) { f.Routes[0].Seen = savedSupport{4, 1, 2} }, want: "support of 4 clients, want 1 to 3"},
	{name: "support of 0", edit: func(f *savedModel) { f.Routes[0].Seen = savedSupport{0, 0, 0} }, want: "support of 0 clients"},
	{name: "support short", edit: func(f *savedModel) { f.Routes[0].Seen = savedSupport{1} }, want: "support of 1 numbers"},
	{name: "support one hash twice", edit: func(f *savedModel) { f.Routes[0].Seen = savedSupport{2, 7, 7} }, want: "support of 2 clients with one hash"},
	{name: "support negative", raw: func(s string) string { return strings.Replace(s, `"seen":[1,`, `"seen":[-1,`, 1) }, want: "cannot unmarshal number -1"},
	{name: "kind support", edit: func(f *savedModel) { page(f).Kinds[1] = savedSupport{9, 1, 2} }, want: "kind integer: support of 9 clients"},
	{name: "unknown kind", edit: func(f *savedModel) { page(f).Kinds[int(numKinds)] = savedSupport{1, 1, 0} }, want: "unknown kind 11"},
	{name: "negative kind", edit: func(f *savedModel) { page(f).Kinds[-1] = savedSupport{1, 1, 0} }, want: "unknown kind -1"},
	{name: "unknown class", edit: func(f *savedModel) { page(f).Classes[numClasses] = savedSupport{1, 1, 0} }, want: "unknown character class 15"},
	{name: "negative length", edit: func(f *savedModel) { page(f).Longest[0].Len = -3 }, want: "negative length -3"},
	{name: "zero length", edit: func(f *savedModel) { page(f).Longest[0].Len = 0 }, want: "length 0 out of range"},
	{name: "lengths out of order", edit: func(f *savedModel) { page(f).Longest[2].Len = 1 << 20 }, want: "not longest first"},
	{name: "four lengths", edit: func(f *savedModel) { p := page(f); p.Longest = append(p.Longest, p.Longest[2]) }, want: "4 longest lengths"},
	{name: "lengths of one client", edit: func(f *savedModel) { p := page(f); p.Longest[1].Client = p.Longest[0].Client }, want: "one client twice"},
	{name: "negative values", edit: func(f *savedModel) { page(f).Values = -1 }, want: "-1 values, negative"},
	{name: "ints unbalanced", edit: func(f *savedModel) { p := page(f); p.Ints.High = p.Ints.High[:2] }, want: "integers: 3 smallest and 2 largest"},
	{name: "ints empty", edit: func(f *savedModel) { page(f).Ints = &savedInts{} }, want: "integers: 0 smallest and 0 largest"},
	{name: "ints four", edit: func(f *savedModel) {
		p := page(f)
		p.Ints.Low, p.Ints.High = append(p.Ints.Low, savedInt{1, 99}), append(p.Ints.High, savedInt{1, 99})
	}, want: "integers: 4 smallest and 4 largest"},
	{name: "ints smallest out of order", edit: func(f *savedModel) { page(f).Ints.Low[2].Value = -1 }, want: "integers: smallest: out of order"},
	{name: "ints largest out of order", edit: func(f *savedModel) { page(f).Ints.High[2].Value = 41 }, want: "integers: largest: out of order"},
	{name: "ints of one client twice", edit: func(f *savedModel) { p := page(f); p.Ints.High[1].Client = p.Ints.High[0].Client },
		want: "integers: largest: of one client twice"},
	{name: "ints smallest above largest", edit: func(f *savedModel) { page(f).Ints.Low[0].Value = 50 }, want: "integers: smallest 50 above largest 40"},
	{name: "ints a client's smallest above its largest", edit: func(f *savedModel) {
		page(f).Ints = &savedInts{Low: []savedInt{{1, 1}, {2, 2}, {39, 3}}, High: []savedInt{{40, 4}, {40, 5}, {38, 3}}}
	}, want: "integers: a client's smallest 39 above its largest 38"},
	{name: "ints of different clients", edit: func(f *savedModel) {
		page(f).Ints = &savedInts{Low: []savedInt{{1, 1}, {2, 2}}, High: []savedInt{{40, 1}, {30, 3}}}
	}, want: "integers: smallest and largest of different clients"},
	{name: "ints of more clients than integers", edit: func(f *savedModel) { page(f).Kinds[int(KindInt)] = savedSupport{1, 7, 0} },
		want: "integers: extremes of 3 clients, but 1 sent integers"},
	{name: "ints beyond int64", raw: func(s string) string { return strings.Replace(s, `{"value":40,`, `{"value":9223372036854775808,`, 1) },
		want: "cannot unmarshal number 9223372036854775808"},
	{name: "enum in a frozen model", edit: func(f *savedModel) { sortParam(f).Enum = []savedEnum{{"x", savedSupport{1, 1, 0}}} }, want: "enum values in a frozen model"},
	{name: "enum set too long", edit: func(f *savedModel) { sortParam(f).EnumSet = make([]text, 13) }, want: "enum set of 13 values"},
	{name: "enum set repeated", edit: func(f *savedModel) { p := sortParam(f); p.EnumSet[1] = p.EnumSet[0] }, want: "repeated"},
	{name: "enum set of no enum", edit: func(f *savedModel) { page(f).EnumSet = []text{"1"} }, want: "enum set of a parameter that is not an enum"},
	{name: "enum set learning", learning: true, edit: func(f *savedModel) { page(f).EnumSet = []text{"1"} }, want: "enum set in a model not frozen"},
	{name: "enum too long", learning: true, edit: func(f *savedModel) { p := sortParam(f); p.Enum = slices.Repeat(p.Enum, 5) }, want: "enum values, more than 12"},
	{name: "enum repeated", learning: true, edit: func(f *savedModel) { p := sortParam(f); p.Enum[1].Value = p.Enum[0].Value }, want: "repeated"},
	{name: "enum of no enum", learning: true, edit: func(f *savedModel) { sortParam(f).EnumOff = true }, want: "enum values of a parameter that is not an enum"},
	{name: "enum value long", learning: true, edit: func(f *savedModel) { sortParam(f).Enum[0].Value = text(strings.Repeat("a", 33)) }, want: "longer than 32 bytes"},
	{name: "too many prefixes", learning: true, opts: Options{MaxRoutes: 8}, edit: func(f *savedModel) {
		f.Routes = f.Routes[:8]
		for i := range 17 {
			f.Prefixes = append(f.Prefixes, savedEntry{Value: text(fmt.Sprint("/p", i)), Seen: savedSupport{1, 1, 0}})
		}
	}, want: "prefixes: 23 entries, more than 16 (2 MaxRoutes)"},
	{name: "prefix twice", learning: true, edit: func(f *savedModel) { f.Prefixes[1] = f.Prefixes[0] }, want: "prefixes: entry 1"},
	{name: "empty extension", learning: true, edit: func(f *savedModel) { f.Exts[0].Value = "" }, want: "extensions: entry 0: empty"},
	{name: "bad base64", raw: func(s string) string { return strings.Replace(s, `"name":"page"`, `"name":{"base64":"!!"}`, 1) }, want: "string: illegal base64"},
	{name: "unknown field", raw: func(s string) string { return strings.Replace(s, `"format":`, `"colour":"red","format":`, 1) }, want: `unknown field "colour"`},
	{name: "trailing data", raw: func(s string) string { return s + "{}" }, want: "data after the contract"},
	{name: "trailing garbage", raw: func(s string) string { return s + "x" }, want: "data after the contract"},
	{name: "truncated", raw: func(s string) string { return s[:len(s)/2] }, want: "unexpected EOF"},
	{name: "empty", raw: func(string) string { return "" }, want: "EOF"},
	{name: "null", raw: func(string) string { return "null" }, want: `format ""`},
	{name: "not JSON", raw: func(string) string { return "format: gatewatch.contract" }, want: "invalid character"},
	{name: "too large", opts: Options{MaxRoutes: 4, MaxParams: 3}, raw: func(s string) string { return strings.Repeat(" ", 2<<20) + s },
		want: "more than 1114112 bytes"},
}

// products, page and sortParam are the products route of learnShop's
// model and two of its parameters.
func products(f *savedModel) *savedRoute {
	for i := range f.Routes {
		if f.Routes[i].Route == "/api/v2/products" {
			return &f.Routes[i]
		}
	}
	panic("no /api/v2/products")
}

func paramOf(f *savedModel, name string) *savedParam {
	r := products(f)
	for i := range r.Params {
		if r.Params[i].Name == text(name) {
			return &r.Params[i]
		}
	}
	panic("no parameter " + name)
}

func page(f *savedModel) *savedParam      { return paramOf(f, "page") }
func sortParam(f *savedModel) *savedParam { return paramOf(f, "sort") }

// TestDecodeReadError: a failing reader is an error of its own, not
// ErrFormat.
func TestDecodeReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := Decode(io.MultiReader(strings.NewReader(`{"format":`), iotestErr{boom}), Options{})
	if !errors.Is(err, boom) || errors.Is(err, ErrFormat) {
		t.Errorf("error %v, want one wrapping the reader's and not ErrFormat", err)
	}
}

type iotestErr struct{ err error }

func (r iotestErr) Read([]byte) (int, error) { return 0, r.err }

// TestText: names and values that are not UTF-8 survive the JSON.
func TestText(t *testing.T) {
	for _, s := range []string{"", "page", "\xff", "a\x00b", "é\xc3", "<&>", "\u2028"} {
		b, err := json.Marshal(text(s))
		if err != nil {
			t.Fatal(err)
		}
		var got text
		if err := json.Unmarshal(b, &got); err != nil || string(got) != s {
			t.Errorf("%q: %s decodes to %q, %v", s, b, got, err)
		}
	}
}

// TestSave: Save replaces the file atomically and leaves no temporary
// file, whether it succeeds or fails; the file is its owner's only.
func TestSave(t *testing.T) {
	m := learnShop(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "contract.json")
	for range 2 {
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("saved file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if _, err := Load(path, Options{}); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub") // a directory with a file in it: the rename fails
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(sub); err == nil || !strings.Contains(err.Error(), "contract: save") {
		t.Errorf("saving over a directory: %v", err)
	}
	if err := m.Save(filepath.Join(dir, "missing", "c.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("saving into a missing directory: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if fmt.Sprint(names) != "[contract.json sub]" {
		t.Errorf("directory holds %v, want [contract.json sub]", names)
	}
	if _, err := Load(filepath.Join(dir, "none.json"), Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("loading a missing file: %v", err)
	}
}

// manyRoutes learns n routes on two hosts, of three to five parameters
// each, from 20 clients.
func manyRoutes(tb testing.TB, n int) *Model {
	tb.Helper()
	m := New(Options{})
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 50 * n {
		ri := i % n
		route := fmt.Sprintf("/api/v%d/res%d/{id}", 1+ri%2, ri)
		q := fmt.Sprintf("page=%d&sort=%s&q=%s", r.IntN(50), []string{"asc", "desc"}[r.IntN(2)], strings.Repeat("ab+", 1+r.IntN(5)))
		for j := range ri % 3 {
			q += fmt.Sprintf("&f%d=%x", j, r.Uint32())
		}
		ev := event(fmt.Sprintf("10.1.0.%d", i/n%20), "GET", route, fmt.Sprintf("/api/v%d/res%d/%d", 1+ri%2, ri, r.IntN(1e6)), q, 200)
		ev.Host = []string{"a.example", "b.example"}[ri%2]
		ev.APIVersion = fmt.Sprintf("v%d", 1+ri%2)
		m.Learn(ev)
	}
	if st := m.Stats(); st.Routes != n {
		tb.Fatalf("%d routes learnt, want %d", st.Routes, n)
	}
	return m
}

// TestStats: Stats counts what the model holds, and its estimate of the
// bytes is within a third of what the heap holds for the model.
func TestStats(t *testing.T) {
	st := learnShop(t).Stats()
	t.Logf("learnShop: %+v", st)
	if st.Routes != 4 || st.KnownRoutes != 3 || st.Params != 7 || st.Sets != 2 || st.BytesPerRoute != st.Bytes/4 {
		t.Errorf("learnShop: %+v, want 4 routes, 3 known, 7 parameters, 2 prefixes", st)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := manyRoutes(t, 200)
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	st = m.Stats()
	t.Logf("200 routes learning: %+v; heap %d bytes (%d per route)", st, heap, heap/200)
	if st.Bytes < heap*2/3 || st.Bytes > heap*3/2 {
		t.Errorf("estimate %d bytes, heap %d", st.Bytes, heap)
	}
	runtime.KeepAlive(m)
	m.Freeze()
	t.Logf("frozen: %+v", m.Stats())
}

// FuzzDecode: no input panics Decode; what decodes encodes to what
// decodes to the same, and can learn, freeze and check.
func FuzzDecode(f *testing.F) {
	shop := learnShop(f)
	learning := New(Options{})
	for _, ev := range apiStream(30) {
		learning.Learn(ev)
	}
	for _, m := range []*Model{shop, learning} {
		b := string(encode(f, m))
		f.Add(b)
		f.Add(b[:len(b)/3])
		f.Add(strings.Replace(b, `"version":1`, `"version":2`, 1))
		f.Add(strings.Replace(b, `"seen":[2,`, `"seen":[4,`, 1))
	}
	f.Add(`{"format":"gatewatch.contract","version":1,"key":"00000000000000000000000000000000","frozen":true,"routes":[{"route":"/a",` +
		`"seen":[3,1,2],"params":[{"name":{"base64":"/w=="},"seen":[1,0,0],"kinds":{"3":[1,5,0]},"longest":[{"len":1073741824,"client":5}],` +
		`"values":9223372036854775807,"enum_set":["a"]}]}],"prefixes":[],"versions":null,"extensions":[{"host":"","value":".gz","seen":[2,1,2]}]}`)
	f.Add(`{"format":"gatewatch.contract","version":1,"key":"00000000000000000000000000000000","frozen":true,"routes":[{"route":"/a",` +
		`"seen":[3,1,2],"params":[{"name":"n","seen":[3,1,2],"kinds":{"1":[3,1,2]},"values":40,"ints":{"low":[{"value":-9223372036854775808,` +
		`"client":1},{"value":3,"client":2},{"value":9,"client":3}],"high":[{"value":9223372036854775807,"client":2},{"value":10000,"client":1},` +
		`{"value":9,"client":4}]}}]}],"prefixes":[],"versions":[],"extensions":[]}`)
	f.Add("null")
	evs := battery(apiStream(200))
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Decode(strings.NewReader(s), Options{})
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		b := encode(t, m)
		m2, err := Decode(bytes.NewReader(b), Options{})
		if err != nil {
			t.Fatalf("a decoded model, encoded again, does not decode: %v", err)
		}
		if b2 := encode(t, m2); !bytes.Equal(b, b2) {
			t.Fatalf("encodes differently after a round trip:\n%s\n%s", b, b2)
		}
		for _, ev := range evs[:20] {
			m2.Learn(ev)
		}
		m2.Freeze()
		_ = checks(m2, evs)
		_ = m2.Stats()
	})
}

// TestRangeRoundTrip: a model's integer extremes survive a save, frozen
// or still learning, and the decoded model checks ranges as the original
// does; a file saved before ranges were learnt (no "ints") still loads,
// with no range.
func TestRangeRoundTrip(t *testing.T) {
	learning := New(Options{})
	for _, ev := range apiStream(3000) {
		learning.Learn(ev)
	}
	for _, m := range []*Model{learnShop(t), learning} {
		b := encode(t, m)
		got, err := Decode(bytes.NewReader(b), Options{})
		if err != nil {
			t.Fatal(err)
		}
		want, have := intsOf(m), intsOf(got)
		if len(want) < 2 || fmt.Sprint(want) != fmt.Sprint(have) {
			t.Errorf("frozen %v: integer extremes %v, want %v", m.Frozen(), have, want)
		}
	}
	m := learnShop(t)
	far := event("198.51.100.1", "POST", "/api/v2/orders", "/api/v2/orders", "qty=100000&sku=a1b2c3d4", 200)
	if vs := m.Check(far, nil); len(vs) != 1 || vs[0].Reason != OutOfRange {
		t.Fatalf("qty=100000: %+v, want out_of_range", vs)
	}
	f := m.saved()
	for i := range f.Routes {
		for j := range f.Routes[i].Params {
			f.Routes[i].Params[j].Ints = nil
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"ints"`)) {
		t.Fatalf("old file with integers: %s", b)
	}
	old, err := Decode(bytes.NewReader(b), Options{})
	if err != nil {
		t.Fatalf("a file without integer extremes: %v", err)
	}
	if vs := old.Check(far, nil); len(vs) != 0 {
		t.Errorf("qty=100000 on a model loaded without ranges: %+v, want nothing", vs)
	}
}

// intsOf lists the integer extremes of m's parameters and, frozen, their
// ranges.
func intsOf(m *Model) map[string]string {
	out := map[string]string{}
	for k, r := range m.routes {
		for name, p := range r.params {
			if p.ints != nil {
				out[k+" "+name] = fmt.Sprintf("%+v %v %d-%d (%d-%d)", *p.ints, p.ranged, p.lo, p.hi, p.below, p.above)
			}
		}
	}
	return out
}
