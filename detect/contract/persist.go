package contract

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/internal/atomicfile"
)

// FileFormat and FileVersion identify a saved Model. Decode refuses a
// file of another format or version rather than guess at its meaning.
const (
	FileFormat  = "gatewatch.contract"
	FileVersion = 1
)

// ErrFormat is wrapped by the errors of Decode and Load for input that is
// not a saved contract this version of gatewatch reads: another format or
// version, malformed JSON, counts out of range, more routes or
// parameters than the options allow, trailing data.
var ErrFormat = errors.New("not a contract this gatewatch reads")

// savedModel is the saved form of a Model, version 1: everything Learn
// accumulated, so that learning can go on after Decode. Freeze's contract
// is not saved but recomputed on Decode, but for the enum sets, which
// Freeze derives from values it then drops.
type savedModel struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Key is the key of the client hashes, 32 hex digits: the supports'
	// hashes mean the same clients only under it.
	Key      string       `json:"key"`
	Frozen   bool         `json:"frozen"`
	Routes   []savedRoute `json:"routes"`
	Prefixes []savedEntry `json:"prefixes"`
	Versions []savedEntry `json:"versions"`
	Exts     []savedEntry `json:"extensions"`
	// Learning is how far a Checker's learning period had come when it
	// saved the model (Checker.Save); absent from Model.Save's files.
	Learning *savedLearning `json:"learning,omitempty"`
}

// savedLearning is a Checker's learning progress: when its first event
// was, and how many events it learnt from.
type savedLearning struct {
	Start   time.Time `json:"start"`
	Learned int64     `json:"learned"`
}

// savedRoute is one route of a saved Model.
type savedRoute struct {
	Host     text         `json:"host"`
	Method   text         `json:"method"`
	Route    text         `json:"route"`
	Seen     savedSupport `json:"seen"`
	Overflow bool         `json:"overflow,omitempty"`
	Params   []savedParam `json:"params"`
}

// savedParam is one parameter of a saved route. Kinds are by Kind
// (KindInt is 1), classes by bit of Class (ClassDigit is 0); supports
// without clients are left out.
type savedParam struct {
	Name    text                 `json:"name"`
	Seen    savedSupport         `json:"seen"`
	Kinds   map[int]savedSupport `json:"kinds,omitempty"`
	Classes map[int]savedSupport `json:"classes,omitempty"`
	Longest []savedLen           `json:"longest,omitempty"` // longest first
	Values  int                  `json:"values"`
	Enum    []savedEnum          `json:"enum,omitempty"`
	EnumOff bool                 `json:"enum_off,omitempty"`
	EnumSet []text               `json:"enum_set,omitempty"` // of a frozen model: the enum's values in the contract
	// Ints are the extremes of a query parameter's integer values; absent
	// from files saved before ranges were learnt, which load without.
	Ints *savedInts `json:"ints,omitempty"`
}

// savedInts are the integer extremes of a parameter: each client's
// smallest and largest value, the three smallest smallest first, the
// three largest largest first.
type savedInts struct {
	Low  []savedInt `json:"low"`
	High []savedInt `json:"high"`
}

// savedInt is an integer learnt and the hash of the client that sent it.
type savedInt struct {
	Value  int64  `json:"value"`
	Client uint64 `json:"client"`
}

// savedLen is a length learnt and the hash of the client that sent it.
type savedLen struct {
	Len    int    `json:"len"`
	Client uint64 `json:"client"`
}

// savedEnum is a value of an enumerated parameter and its support.
type savedEnum struct {
	Value text         `json:"value"`
	Seen  savedSupport `json:"seen"`
}

// savedEntry is a path prefix, an API version or a file extension served
// on a host, and its support.
type savedEntry struct {
	Host  text         `json:"host"`
	Value text         `json:"value"`
	Seen  savedSupport `json:"seen"`
}

// savedSupport is a support as [clients, hash, hash]: clients 1 to 3,
// the second hash 0 for one client.
type savedSupport []uint64

// text is a string saved as a JSON string when it is UTF-8, and as
// {"base64": "..."} when it is not: a JSON string cannot hold other
// bytes, and a parameter's name or value may be any.
type text string

type base64Text struct {
	Base64 []byte `json:"base64"`
}

// MarshalJSON implements json.Marshaler.
func (t text) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(t)) {
		return json.Marshal(string(t))
	}
	return json.Marshal(base64Text{[]byte(t)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var v base64Text
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%w: string: %w", ErrFormat, err)
		}
		*t = text(v.Base64)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: string: %w", ErrFormat, err)
	}
	*t = text(s)
	return nil
}

// Encode writes the model in its saved form (JSON, FileFormat version
// FileVersion) to w: all it learnt, frozen or not, and the key of its
// client hashes (not the clients). The output is the same for the same
// model.
func (m *Model) Encode(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m.saved()); err != nil {
		return fmt.Errorf("contract: encode: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("contract: encode: %w", err)
	}
	return nil
}

// saved is m in its saved form, sorted.
func (m *Model) saved() *savedModel {
	f := &savedModel{Format: FileFormat, Version: FileVersion, Key: fmt.Sprintf("%016x%016x", m.key[0], m.key[1]),
		Frozen: m.frozen, Routes: make([]savedRoute, 0, len(m.routes)),
		Prefixes: savedSet(m.prefixes), Versions: savedSet(m.versions), Exts: savedSet(m.exts)}
	if m.learnedN > 0 {
		f.Learning = &savedLearning{Start: m.learnStart.UTC(), Learned: m.learnedN}
	}
	for k, r := range m.routes {
		host, rest, _ := strings.Cut(k, " ")
		method, tmpl, _ := strings.Cut(rest, " ")
		sr := savedRoute{Host: text(host), Method: text(method), Route: text(tmpl), Seen: saveSupport(r.seen),
			Overflow: r.overflow, Params: make([]savedParam, 0, len(r.params))}
		for name, p := range r.params {
			sr.Params = append(sr.Params, p.saved(name))
		}
		slices.SortFunc(sr.Params, func(a, b savedParam) int { return strings.Compare(string(a.Name), string(b.Name)) })
		f.Routes = append(f.Routes, sr)
	}
	slices.SortFunc(f.Routes, func(a, b savedRoute) int {
		return cmp.Or(strings.Compare(string(a.Host), string(b.Host)), strings.Compare(string(a.Route), string(b.Route)),
			strings.Compare(string(a.Method), string(b.Method)))
	})
	return f
}

// saved is parameter name in its saved form.
func (p *param) saved(name string) savedParam {
	sp := savedParam{Name: text(name), Seen: saveSupport(p.seen), Values: p.values, EnumOff: p.enumOff}
	for k, s := range p.kinds {
		if s.n > 0 {
			if sp.Kinds == nil {
				sp.Kinds = map[int]savedSupport{}
			}
			sp.Kinds[k] = saveSupport(s)
		}
	}
	for c, s := range p.classes {
		if s.n > 0 {
			if sp.Classes == nil {
				sp.Classes = map[int]savedSupport{}
			}
			sp.Classes[c] = saveSupport(s)
		}
	}
	for _, l := range p.longest {
		if l.n > 0 {
			sp.Longest = append(sp.Longest, savedLen{Len: l.n, Client: l.h})
		}
	}
	for _, e := range p.enum {
		sp.Enum = append(sp.Enum, savedEnum{Value: text(e.v), Seen: saveSupport(e.s)})
	}
	for _, v := range p.enumSet {
		sp.EnumSet = append(sp.EnumSet, text(v))
	}
	if x := p.ints; x != nil && x.nLow > 0 {
		sp.Ints = &savedInts{Low: savedInts3(x.low[:x.nLow]), High: savedInts3(x.high[:x.nHigh])}
	}
	return sp
}

func savedInts3(t []intClient) []savedInt {
	out := make([]savedInt, len(t))
	for i, e := range t {
		out[i] = savedInt{Value: e.v, Client: e.h}
	}
	return out
}

// savedSet is a set of supports by host and value, sorted.
func savedSet(set map[string]*support) []savedEntry {
	out := make([]savedEntry, 0, len(set))
	for k, s := range set {
		host, v, _ := strings.Cut(k, " ")
		out = append(out, savedEntry{Host: text(host), Value: text(v), Seen: saveSupport(*s)})
	}
	slices.SortFunc(out, func(a, b savedEntry) int {
		return cmp.Or(strings.Compare(string(a.Host), string(b.Host)), strings.Compare(string(a.Value), string(b.Value)))
	})
	return out
}

func saveSupport(s support) savedSupport { return savedSupport{uint64(s.n), s.a, s.b} }

// support is s checked: one to three clients, distinct hashes.
func (s savedSupport) support() (support, error) {
	if len(s) != 3 {
		return support{}, fmt.Errorf("support of %d numbers, want 3 (clients, hash, hash)", len(s))
	}
	n, a, b := s[0], s[1], s[2]
	switch {
	case n < 1 || n > 3:
		return support{}, fmt.Errorf("support of %d clients, want 1 to 3", n)
	case n == 1 && b != 0:
		return support{}, errors.New("support of one client with two hashes")
	case n > 1 && a == b:
		return support{}, fmt.Errorf("support of %d clients with one hash", n)
	}
	return support{a: a, b: b, n: uint8(n)}, nil
}

// Save writes the model to path atomically: a temporary file in the same
// directory, synced, renamed over path, and the directory synced, so a
// crash leaves the old file or the new one, never a torn one. The file
// is readable by its owner only.
func (m *Model) Save(path string) error {
	if err := atomicfile.Write(path, m.Encode); err != nil {
		return fmt.Errorf("contract: save %s: %w", path, err)
	}
	return nil
}

// Load reads a model saved with Save (see Decode).
func Load(path string, opts Options) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("contract: load: %w", err)
	}
	defer f.Close()
	m, err := decode(f, opts)
	if err != nil {
		return nil, fmt.Errorf("contract: load %s: %w", path, err)
	}
	return m, nil
}

// Decode reads a model in its saved form (see Encode), to be used with
// opts as New(opts) would be. An unfrozen model goes on learning where it
// stopped. A frozen one has its contract recomputed under opts, but for
// its enum sets (chosen by the Freeze that made them), so it checks as it
// did when given the options it was learnt with. Input that is not such a
// model, or holds more than opts allow, is an error wrapping ErrFormat.
func Decode(r io.Reader, opts Options) (*Model, error) {
	m, err := decode(r, opts)
	if err != nil {
		return nil, fmt.Errorf("contract: decode: %w", err)
	}
	return m, nil
}

// decode is Decode without the package's prefix on errors.
func decode(r io.Reader, opts Options) (*Model, error) {
	opts = opts.withDefaults()
	br := &boundedReader{r: r, left: maxFileBytes(opts) + 1, limit: maxFileBytes(opts)}
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	var f savedModel
	err := dec.Decode(&f)
	if err == nil {
		if _, terr := dec.Token(); errors.Is(terr, ErrFormat) {
			err = terr
		} else if terr != io.EOF {
			err = fmt.Errorf("%w: data after the contract", ErrFormat)
		}
	}
	switch {
	case br.err != nil:
		return nil, fmt.Errorf("read: %w", br.err)
	case err != nil && !errors.Is(err, ErrFormat):
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	case err != nil:
		return nil, err
	}
	m, err := f.model(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return m, nil
}

// maxFileBytes bounds the saved form of a model under opts: 1 MiB, and
// 4 KiB per route and per parameter a route may have, several times what
// they take (a parameter takes 100 to 600 bytes).
func maxFileBytes(opts Options) int64 {
	routes, params := min(int64(opts.MaxRoutes), 1<<30), min(int64(opts.MaxParams), 1<<20)
	return 1<<20 + routes*(params+1)*4<<10
}

// boundedReader reads from r until limit bytes were read, then fails
// with an error wrapping ErrFormat; it keeps r's errors in err.
type boundedReader struct {
	r           io.Reader
	left, limit int64 // left is limit+1 at the start
	err         error
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrFormat, b.limit)
	}
	p = p[:min(int64(len(p)), b.left)]
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// model is the Model f holds, checked.
func (f *savedModel) model(opts Options) (*Model, error) {
	switch {
	case f.Format != FileFormat:
		return nil, fmt.Errorf("format %q, want %q", f.Format, FileFormat)
	case f.Version != FileVersion:
		return nil, fmt.Errorf("unknown version %d (this gatewatch reads version %d)", f.Version, FileVersion)
	case len(f.Routes) > opts.MaxRoutes:
		return nil, fmt.Errorf("%d routes, more than MaxRoutes %d", len(f.Routes), opts.MaxRoutes)
	}
	m := newModel(opts)
	if len(f.Key) != 32 {
		return nil, fmt.Errorf("key of %d characters, want 32 hex digits", len(f.Key))
	}
	for i := range m.key {
		k, err := strconv.ParseUint(f.Key[16*i:16*i+16], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		m.key[i] = k
	}
	var enumSets []enumSet
	for i := range f.Routes {
		sr := &f.Routes[i]
		if err := m.restoreRoute(sr, f.Frozen, &enumSets); err != nil {
			return nil, fmt.Errorf("route %d (%s %s %s): %w", i, quote(string(sr.Host)), quote(string(sr.Method)),
				quote(string(sr.Route)), err)
		}
	}
	for _, s := range []struct {
		name    string
		set     map[string]*support
		entries []savedEntry
	}{{"prefixes", m.prefixes, f.Prefixes}, {"versions", m.versions, f.Versions}, {"extensions", m.exts, f.Exts}} {
		if err := m.restoreSet(s.set, s.entries); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if l := f.Learning; l != nil {
		if l.Learned < 0 || l.Start.IsZero() {
			return nil, fmt.Errorf("learning progress of %d events from %v", l.Learned, l.Start)
		}
		m.learnStart, m.learnedN = l.Start, l.Learned
	}
	if f.Frozen {
		m.Freeze()
		for _, e := range enumSets {
			e.p.enumSet = e.values
		}
	}
	return m, nil
}

// enumSet is the saved enum set of a parameter of a frozen model.
type enumSet struct {
	p      *param
	values []string
}

// restoreRoute adds route sr to m, with its parameters; the enum sets of
// a frozen model's parameters go to enumSets, to be set after Freeze.
func (m *Model) restoreRoute(sr *savedRoute, frozen bool, enumSets *[]enumSet) error {
	if sr.Route == "" {
		return errors.New("no route template")
	}
	k := routeKey(string(sr.Host), string(sr.Method), string(sr.Route))
	if m.routes[k] != nil {
		return errors.New("route appears twice")
	}
	if len(sr.Params) > m.opts.MaxParams {
		return fmt.Errorf("%d parameters, more than MaxParams %d", len(sr.Params), m.opts.MaxParams)
	}
	seen, err := sr.Seen.support()
	if err != nil {
		return fmt.Errorf("seen: %w", err)
	}
	r := &route{seen: seen, overflow: sr.Overflow, params: make(map[string]*param, len(sr.Params))}
	for i := range sr.Params {
		sp := &sr.Params[i]
		name := string(sp.Name)
		if r.params[name] != nil {
			return fmt.Errorf("parameter %s appears twice", quote(name))
		}
		p, err := restoreParam(sp, frozen)
		if err != nil {
			return fmt.Errorf("parameter %s: %w", quote(name), err)
		}
		if len(sp.EnumSet) > 0 {
			vs := textStrings(sp.EnumSet)
			slices.Sort(vs) // as Freeze does
			*enumSets = append(*enumSets, enumSet{p, vs})
		}
		r.params[name] = p
	}
	m.routes[k] = r
	return nil
}

// restoreParam is the parameter sp holds, checked.
func restoreParam(sp *savedParam, frozen bool) (*param, error) {
	p := &param{values: sp.Values, enumOff: sp.EnumOff}
	var err error
	if p.seen, err = sp.Seen.support(); err != nil {
		return nil, fmt.Errorf("seen: %w", err)
	}
	if sp.Values < 0 {
		return nil, fmt.Errorf("%d values, negative", sp.Values)
	}
	for k, s := range sp.Kinds {
		if k < 0 || k >= int(numKinds) {
			return nil, fmt.Errorf("unknown kind %d (kinds are 0 to %d)", k, numKinds-1)
		}
		if p.kinds[k], err = s.support(); err != nil {
			return nil, fmt.Errorf("kind %s: %w", Kind(k), err)
		}
	}
	for c, s := range sp.Classes {
		if c < 0 || c >= numClasses {
			return nil, fmt.Errorf("unknown character class %d (classes are 0 to %d)", c, numClasses-1)
		}
		if p.classes[c], err = s.support(); err != nil {
			return nil, fmt.Errorf("class %s: %w", Class(1<<c), err)
		}
	}
	if err := restoreLongest(p, sp.Longest); err != nil {
		return nil, err
	}
	if err := restoreEnum(p, sp, frozen); err != nil {
		return nil, err
	}
	if sp.Ints != nil {
		if err := restoreInts(p, sp.Ints); err != nil {
			return nil, fmt.Errorf("integers: %w", err)
		}
	}
	return p, nil
}

// maxSavedLen bounds a saved length (1 GiB): no query value is longer.
const maxSavedLen = 1 << 30

// restoreLongest sets p's longest lengths: at most three, of distinct
// clients, longest first.
func restoreLongest(p *param, ls []savedLen) error {
	if len(ls) > len(p.longest) {
		return fmt.Errorf("%d longest lengths, more than %d", len(ls), len(p.longest))
	}
	for i, l := range ls {
		switch {
		case l.Len < 0:
			return fmt.Errorf("negative length %d", l.Len)
		case l.Len == 0 || l.Len > maxSavedLen:
			return fmt.Errorf("length %d out of range (1 to %d)", l.Len, maxSavedLen)
		case i > 0 && l.Len > ls[i-1].Len:
			return errors.New("longest lengths not longest first")
		}
		for _, o := range ls[:i] {
			if o.Client == l.Client {
				return errors.New("longest lengths of one client twice")
			}
		}
		p.longest[i] = lenClient{n: l.Len, h: l.Client}
	}
	return nil
}

// restoreInts sets p's integer extremes, checked: as many smallest as
// largest, one to three, in order, of distinct clients, each client's
// smallest at most its largest, the same clients when fewer than three,
// and no more clients than p's integer kind counts. (Any int64 is a
// value Learn may keep: it saturates at the bounds.)
func restoreInts(p *param, si *savedInts) error {
	x := &intExtremes{}
	switch n := len(si.Low); {
	case n == 0 || n > len(x.low) || len(si.High) != n:
		return fmt.Errorf("%d smallest and %d largest, want as many of each, 1 to %d", n, len(si.High), len(x.low))
	case int(p.kinds[KindInt].n) < n:
		return fmt.Errorf("extremes of %d clients, but %d sent integers", n, p.kinds[KindInt].n)
	case si.Low[0].Value > si.High[0].Value:
		return fmt.Errorf("smallest %d above largest %d", si.Low[0].Value, si.High[0].Value)
	}
	if err := restoreExtremes(x.low[:], si.Low, func(a, b int64) bool { return a < b }); err != nil {
		return fmt.Errorf("smallest: %w", err)
	}
	if err := restoreExtremes(x.high[:], si.High, func(a, b int64) bool { return a > b }); err != nil {
		return fmt.Errorf("largest: %w", err)
	}
	for _, l := range si.Low {
		i := slices.IndexFunc(si.High, func(h savedInt) bool { return h.Client == l.Client })
		switch {
		case i >= 0 && si.High[i].Value < l.Value:
			return fmt.Errorf("a client's smallest %d above its largest %d", l.Value, si.High[i].Value)
		case i < 0 && len(si.Low) < len(x.low):
			return errors.New("smallest and largest of different clients")
		}
	}
	x.nLow, x.nHigh = uint8(len(si.Low)), uint8(len(si.High))
	p.ints = x
	return nil
}

// restoreExtremes copies saved extremes into t, checking they are of
// distinct clients, none beyond the one before.
func restoreExtremes(t []intClient, s []savedInt, beyond func(a, b int64) bool) error {
	for i, e := range s {
		if i > 0 && beyond(e.Value, s[i-1].Value) {
			return errors.New("out of order")
		}
		if slices.ContainsFunc(s[:i], func(o savedInt) bool { return o.Client == e.Client }) {
			return errors.New("of one client twice")
		}
		t[i] = intClient{v: e.Value, h: e.Client}
	}
	return nil
}

// restoreEnum sets p's enum values, checked: a frozen model has an enum
// set and no values (Freeze drops them), one learning values and no set.
func restoreEnum(p *param, sp *savedParam, frozen bool) error {
	switch {
	case len(sp.Enum) > maxEnum:
		return fmt.Errorf("%d enum values, more than %d", len(sp.Enum), maxEnum)
	case len(sp.EnumSet) > maxEnum:
		return fmt.Errorf("enum set of %d values, more than %d", len(sp.EnumSet), maxEnum)
	case sp.EnumOff && len(sp.Enum) > 0:
		return errors.New("enum values of a parameter that is not an enum")
	case frozen && len(sp.Enum) > 0:
		return errors.New("enum values in a frozen model")
	case !frozen && len(sp.EnumSet) > 0:
		return errors.New("enum set in a model not frozen")
	case len(sp.EnumSet) > 0 && (sp.EnumOff || sp.Values < minEnumValues):
		return errors.New("enum set of a parameter that is not an enum")
	}
	for i, v := range sp.EnumSet {
		if len(v) > 32 || slices.Contains(sp.EnumSet[:i], v) {
			return fmt.Errorf("enum set value %s longer than 32 bytes or repeated", quote(string(v)))
		}
	}
	for i, e := range sp.Enum {
		if len(e.Value) > 32 || slices.ContainsFunc(sp.Enum[:i], func(o savedEnum) bool { return o.Value == e.Value }) {
			return fmt.Errorf("enum value %s longer than 32 bytes or repeated", quote(string(e.Value)))
		}
		s, err := e.Seen.support()
		if err != nil {
			return fmt.Errorf("enum value %s: %w", quote(string(e.Value)), err)
		}
		p.enum = append(p.enum, enumValue{v: string(e.Value), s: s})
	}
	return nil
}

// restoreSet fills set with entries, checked: at most two per route
// allowed, as Learn keeps.
func (m *Model) restoreSet(set map[string]*support, entries []savedEntry) error {
	if len(entries) > 2*m.opts.MaxRoutes {
		return fmt.Errorf("%d entries, more than %d (2 MaxRoutes)", len(entries), 2*m.opts.MaxRoutes)
	}
	for i, e := range entries {
		if e.Value == "" {
			return fmt.Errorf("entry %d: empty", i)
		}
		k := string(e.Host) + " " + string(e.Value)
		if set[k] != nil {
			return fmt.Errorf("entry %d (%s %s) appears twice", i, quote(string(e.Host)), quote(string(e.Value)))
		}
		s, err := e.Seen.support()
		if err != nil {
			return fmt.Errorf("entry %d (%s %s): %w", i, quote(string(e.Host)), quote(string(e.Value)), err)
		}
		set[k] = &s
	}
	return nil
}

func textStrings(ts []text) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}
