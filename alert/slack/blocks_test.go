package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/gatewatch/gatewatch/detect"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// hostile is a finding whose every untrusted string tries something.
func hostile() detect.Finding {
	f := finding("inc-<!channel>", detect.StatusOpen)
	f.Client = "<!channel> *bold* `tick` ```block``` \x1b[31mred\r\n<@U123|admin> <https://evil.example|click>"
	f.ClientKind = "api_key<!here>"
	f.Detector = "scanning_*x*"
	f.Unit = "req/<min>"
	f.Summary = "client " + f.Client + " sent " + strings.Repeat("A&B<C>", 900) // ~5 KB
	f.Why = strings.Repeat("why `x` ", 200)
	f.Routes = nil
	for i := range 100 {
		f.Routes = append(f.Routes, fmt.Sprintf("GET /r%d/`{id}`/<!everyone>/%s", i, strings.Repeat("x", i)))
	}
	f.Samples = []string{"GET /?q=```</code>``` \x1b]0;title\x07", strings.Repeat("&", 2000), "", "a", "b", "c", "d"}
	f.TopClients = []string{"<!here>", "x"}
	f.Campaign = "login `/api/login`"
	f.Clients = []string{strings.Repeat("c", 500), "*y*"}
	f.ClientCount = 4000
	f.Detectors = []string{"scanning", "<!channel>"}
	return f
}

// goldenFindings are the findings rendered to testdata.
func goldenFindings() map[string]detect.Finding {
	resolved := finding("inc-2", detect.StatusResolved)
	resolved.Windows = 14
	resolved.WindowEnd = t0.Add(72 * time.Minute)
	campaign := finding("inc-3", detect.StatusUpdate)
	campaign.Client, campaign.ClientKind, campaign.Detector = "", "", detect.DetectorCampaign
	campaign.Campaign, campaign.Clients, campaign.ClientCount = "login /api/login", []string{"198.51.100.1", "198.51.100.2"}, 37
	campaign.Totals = &detect.Totals{Requests: 120000, Failures: 118000, Bytes: 3.5e6, DistinctPaths: 1}
	fleet := finding("inc-4", detect.StatusOpen)
	fleet.Client, fleet.Detector, fleet.Unit = detect.FleetClient, detect.DetectorFleetVolume, "req/min"
	fleet.Severity, fleet.Baseline, fleet.TopClients = detect.SeverityCritical, detect.BaselinePopulation, []string{"10.0.0.1", "tok_abc"}
	ratio := finding("inc-5", detect.StatusOpen)
	ratio.Detector, ratio.Unit, ratio.Observed, ratio.Expected, ratio.Spread = detect.DetectorErrorRatio, "5xx ratio", 0.42, 0.01, 0.005
	ratio.Severity, ratio.Samples, ratio.Routes = detect.SeverityMedium, nil, nil
	return map[string]detect.Finding{"open": finding("inc-1", detect.StatusOpen), "resolved": resolved,
		"campaign": campaign, "fleet": fleet, "error_ratio": ratio, "hostile": hostile()}
}

func TestBlocksGolden(t *testing.T) {
	o := BlockOptions{DeliveryID: "0123456789abcdef0123456789abcdef",
		GrafanaURL: "https://grafana.example/d/gw-client?var-client={{client}}&from={{from}}&to={{to}}",
		Notes:      []string{":eyes: Acknowledged by <@U024BE7LH> at <!date^1715004000^{time}|14:00 UTC>"}}
	for name, f := range goldenFindings() {
		t.Run(name, func(t *testing.T) {
			blocks := Blocks(f, o)
			checkLimits(t, blocks)
			golden(t, name, blocks)
		})
	}
	t.Run("digest", func(t *testing.T) {
		var all []detect.Finding
		sevs := []detect.Severity{detect.SeverityLow, detect.SeverityMedium, detect.SeverityHigh, detect.SeverityCritical}
		for i := range 14 {
			f := finding(fmt.Sprintf("inc-%02d", i), detect.StatusOpen)
			f.Client = fmt.Sprintf("198.51.100.%d", i)
			f.Summary = strings.ReplaceAll(f.Summary, "203.0.113.7", f.Client)
			f.Severity, f.Score = sevs[i%4], float64(i%5)/5
			all = append(all, f)
		}
		all = append(all, hostile())
		blocks := DigestBlocks(all)
		checkLimits(t, blocks)
		golden(t, "digest", blocks)
	})
}

// golden compares blocks' indented JSON with testdata/name.json.
func golden(t *testing.T, name string, blocks []slackapi.Block) {
	t.Helper()
	got, err := json.MarshalIndent(map[string]any{"blocks": blocks}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Errorf("%s differs from the golden file; run go test -update and check it by eye", path)
	}
}

// mention matches what Slack would turn into a mention or link.
var mention = regexp.MustCompile(`<[!@#]|<https?:`)

// checkText fails on a text that could mention, link or carry controls;
// date tokens and <@U…> and <@W…> mentions (slackID) written by the builders
// are allowed.
func checkText(t *testing.T, where, s string) {
	t.Helper()
	trusted := regexp.MustCompile(`<!date\^-?\d+\^[^|>]*\|[^>]*>|<@[UW][A-Z0-9]+>`)
	if m := mention.FindString(trusted.ReplaceAllString(s, "")); m != "" {
		t.Errorf("%s: %q can mention or link: %.200q", where, m, s)
	}
	if strings.ContainsAny(s, "\x1b\r\x00\x07") {
		t.Errorf("%s: control characters in %.200q", where, s)
	}
}

// checkLimits fails the test when blocks break a Block Kit limit or
// fail to marshal.
func checkLimits(t *testing.T, blocks []slackapi.Block) {
	t.Helper()
	if len(blocks) == 0 || len(blocks) > MaxBlocks {
		t.Errorf("%d blocks", len(blocks))
	}
	if _, err := json.Marshal(blocks); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	for i, b := range blocks {
		where := fmt.Sprintf("block %d (%s)", i, b.BlockType())
		switch b := b.(type) {
		case *slackapi.HeaderBlock:
			// plain_text: Slack shows it as is, no mentions or links, so
			// only control characters matter.
			if n := utf16Len(b.Text.Text); n > MaxHeaderText || n == 0 || b.Text.Type != slackapi.PlainTextType {
				t.Errorf("%s: header of %d chars, type %s", where, n, b.Text.Type)
			}
			if strings.ContainsAny(b.Text.Text, "\x1b\r\n\x00\x07") {
				t.Errorf("%s: control characters in %q", where, b.Text.Text)
			}
		case *slackapi.SectionBlock:
			checkSection(t, where, b)
		case *slackapi.ContextBlock:
			checkContext(t, where, b)
		case *slackapi.ActionBlock:
			checkActions(t, where, b)
		default:
			t.Errorf("%s: unexpected block %T", where, b)
		}
	}
}

func checkSection(t *testing.T, where string, b *slackapi.SectionBlock) {
	t.Helper()
	if b.Text != nil {
		if n := len(b.Text.Text); n > MaxSectionText || n == 0 {
			t.Errorf("%s: text of %d bytes", where, n)
		}
		checkText(t, where, b.Text.Text)
	}
	if len(b.Fields) > maxFields {
		t.Errorf("%s: %d fields", where, len(b.Fields))
	}
	for _, f := range b.Fields {
		if n := len(f.Text); n > maxFieldText || n == 0 {
			t.Errorf("%s: field of %d bytes", where, n)
		}
		checkText(t, where, f.Text)
	}
}

func checkContext(t *testing.T, where string, b *slackapi.ContextBlock) {
	t.Helper()
	if n := len(b.ContextElements.Elements); n > maxContextElem || n == 0 {
		t.Errorf("%s: %d elements", where, n)
	}
	for _, el := range b.ContextElements.Elements {
		if tx, ok := el.(*slackapi.TextBlockObject); ok {
			if len(tx.Text) > 3000 || tx.Text == "" {
				t.Errorf("%s: element of %d bytes", where, len(tx.Text))
			}
			checkText(t, where, tx.Text)
		}
	}
}

func checkActions(t *testing.T, where string, b *slackapi.ActionBlock) {
	t.Helper()
	if n := len(b.Elements.ElementSet); n > 25 || n == 0 {
		t.Errorf("%s: %d elements", where, n)
	}
	for _, el := range b.Elements.ElementSet {
		bt, ok := el.(*slackapi.ButtonBlockElement)
		if !ok {
			t.Errorf("%s: element %T", where, el)
			continue
		}
		if n := utf16Len(bt.Text.Text); n > MaxButtonText || len(bt.Value) > maxButtonValue || len(bt.URL) > maxURL {
			t.Errorf("%s: button text %d chars, value %d, url %d", where, n, len(bt.Value), len(bt.URL))
		}
		if bt.URL == "" && !json.Valid([]byte(bt.Value)) {
			t.Errorf("%s: button value %q is not JSON", where, bt.Value)
		}
	}
}

func TestButtonValueRoundTrip(t *testing.T) {
	for _, client := range []string{"203.0.113.7", hostile().Client, strings.Repeat("\"\\", 3000), "\xff\xfe"} {
		f := finding("inc", detect.StatusOpen)
		f.Client = client
		v := buttonValue(f)
		var ref buttonRef
		if err := json.Unmarshal([]byte(v), &ref); err != nil || len(v) > maxButtonValue || ref.IncidentID != "inc" {
			t.Errorf("value %.80q: %v %+v", v, err, ref)
		}
		if len(client) < 500 && utf8Valid(client) && ref.Client != client {
			t.Errorf("client %q came back as %q", client, ref.Client)
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

func TestGrafanaURL(t *testing.T) {
	f := finding("i d", detect.StatusOpen)
	f.Client = "a&b=c d/é"
	for _, tc := range []struct{ tmpl, want string }{
		{"", ""},
		{"https://g.example/d/x?var-client={{client}}&i={{incident}}", "https://g.example/d/x?var-client=a%26b%3Dc+d%2F%C3%A9&i=i+d"},
		{"javascript:alert(1)//{{client}}", ""},
		{"https://g.example/?c={{client}}" + strings.Repeat("x", 3000), ""},
	} {
		if got := grafanaURL(tc.tmpl, f); got != tc.want {
			t.Errorf("grafanaURL(%q) = %q; want %q", tc.tmpl, got, tc.want)
		}
	}
}

func FuzzBlocks(f *testing.F) {
	h := hostile()
	f.Add(h.Client, h.Summary, h.Routes[99], h.Samples[0], "critical", 3)
	f.Add("", "", "", "", "", 0)
	f.Add("\xff", "<!channel>", "`", "```", "resolved", 200)
	f.Fuzz(func(t *testing.T, client, summary, route, sample, sev string, n int) {
		fd := finding("fz", detect.StatusOpen)
		fd.Client, fd.ClientKind, fd.Summary, fd.Why, fd.Unit = client, sample, summary, route, sev
		fd.Severity, fd.Detector, fd.Campaign = detect.Severity(sev), sev, route
		n = max(0, min(n, 300))
		fd.Routes, fd.Samples, fd.Clients, fd.TopClients = nil, nil, nil, nil
		for range n {
			fd.Routes = append(fd.Routes, route)
			fd.Samples = append(fd.Samples, sample)
			fd.Clients = append(fd.Clients, client)
			fd.TopClients = append(fd.TopClients, summary)
		}
		if n%2 == 1 {
			fd.Status = detect.StatusResolved
		}
		var notes []string // built from untrusted user names and kinds
		for i := range min(n, 20) {
			notes = append(notes, noteText(Action{Kind: ActionKind(sev), User: User{ID: client, Name: summary},
				At: t0, Until: t0.Add(time.Duration(i) * time.Hour)}))
			notes = append(notes, noteText(Action{Kind: KindSilence, User: User{ID: "U1", Name: route}}))
		}
		o := BlockOptions{DeliveryID: sample, GrafanaURL: "https://g.example/?c={{client}}", Notes: notes}
		blocks := Blocks(fd, o)
		checkLimits(t, blocks)
		checkLimits(t, DigestBlocks([]detect.Finding{fd, fd}))
		checkLimits(t, withNotes(blocks, notes))
	})
}
