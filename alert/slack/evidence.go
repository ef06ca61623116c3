package slack

import (
	"sort"
	"strconv"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/gatewatch/gatewatch/detect"
)

// evidenceBlock lists the detectors, routes, top or campaign clients
// and totals; nil when f carries none of them.
func evidenceBlock(f detect.Finding) slackapi.Block {
	var lines []string
	if len(f.Detectors) > 1 {
		lines = append(lines, "*Detectors:* "+esc(strings.Join(f.Detectors, ", "), 300))
	}
	if len(f.Routes) > 0 {
		lines = append(lines, "*Routes* ("+strconv.Itoa(len(f.Routes))+")\n"+bullets(f.Routes, maxRouteBytes))
	}
	if len(f.TopClients) > 0 {
		lines = append(lines, "*Top clients:* "+codeList(f.TopClients, len(f.TopClients)))
	}
	if f.Campaign != "" || len(f.Clients) > 0 {
		n := max(f.ClientCount, len(f.Clients))
		line := "*Campaign:* " + code(f.Campaign, 200) + " · " + fmtNum(float64(n)) + " clients"
		if len(f.Clients) > 0 {
			line += "\n" + codeList(f.Clients, n)
		}
		lines = append(lines, line)
	}
	if t := f.Totals; t != nil {
		lines = append(lines, "*Totals:* "+fmtNum(t.Requests)+" requests · "+fmtNum(t.Failures)+
			" failures · "+fmtBytes(t.Bytes)+" · "+fmtNum(t.DistinctPaths)+" distinct 404/403 paths")
	}
	if len(lines) == 0 {
		return nil
	}
	return section(strings.Join(lines, "\n"))
}

// bullets lists up to maxListed untrusted items as code, one a line,
// with a count of the rest.
func bullets(items []string, each int) string {
	var b strings.Builder
	for i, it := range items {
		if i == maxListed {
			b.WriteString("… and " + strconv.Itoa(len(items)-i) + " more")
			break
		}
		b.WriteString("• " + code(it, each) + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// codeList lists up to maxListed untrusted items as code on one line;
// total is how many there are in all (a finding keeps only the top).
func codeList(items []string, total int) string {
	shown := items[:min(len(items), maxListed)]
	parts := make([]string, len(shown))
	for i, it := range shown {
		parts[i] = code(it, maxClientBytes)
	}
	s := strings.Join(parts, ", ")
	if rest := max(total, len(items)) - len(shown); rest > 0 {
		s += " and " + fmtNum(float64(rest)) + " more"
	}
	return s
}

// samplesBlock shows up to maxSamples redacted sample requests as a
// code block; nil when there are none.
func samplesBlock(samples []string) slackapi.Block {
	if len(samples) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("*Samples*\n```\n")
	for i, s := range samples {
		if i == maxSamples {
			b.WriteString("… and " + strconv.Itoa(len(samples)-i) + " more\n")
			break
		}
		line := escN(s, maxSampleBytes, true)
		if line == "" {
			line = "(empty)"
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("```")
	return section(b.String())
}

// FallbackText is the plain notification text of f: what a phone shows
// in a push notification and what screen readers read. It is escaped.
func FallbackText(f detect.Finding) string {
	s := title(f)
	if f.Summary != "" {
		s += ": " + f.Summary
	}
	return esc(s, 400)
}

// severityRank orders severities, unknown ones lowest.
func severityRank(s detect.Severity) int {
	switch s {
	case detect.SeverityCritical:
		return 3
	case detect.SeverityHigh:
		return 2
	case detect.SeverityMedium:
		return 1
	}
	return 0
}

// rank sorts findings by severity, then score, both descending.
func rank(fs []detect.Finding) []detect.Finding {
	out := append([]detect.Finding(nil), fs...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := severityRank(out[i].Severity), severityRank(out[j].Severity)
		if ri != rj {
			return ri > rj
		}
		return out[i].Score > out[j].Score
	})
	return out
}

// DigestBlocks renders one message for many new incidents: a header
// with the count, the top ones by severity then score (at most ten),
// counts by severity, and a note that each incident's updates follow in
// the thread. Limits hold as in Blocks.
func DigestBlocks(fs []detect.Finding) []slackapi.Block {
	top := rank(fs)
	header := ":rotating_light: " + strconv.Itoa(len(fs)) + " new incidents"
	var b strings.Builder
	for i, f := range top {
		if i == maxListed {
			b.WriteString("… and " + strconv.Itoa(len(top)-i) + " more")
			break
		}
		b.WriteString(severityEmoji(f.Severity) + " " + digestTitle(f))
		if f.Summary != "" {
			b.WriteString("\n      " + withClient(f.Summary, f.Client, 160))
		}
		b.WriteString("\n")
	}
	return []slackapi.Block{
		slackapi.NewHeaderBlock(plain(plainN(header, MaxHeaderText))),
		section(strings.TrimSuffix(b.String(), "\n")),
		slackapi.NewContextBlock("", mrkdwn(severityCounts(fs)+" · updates to each incident follow in this thread")),
	}
}

// digestTitle is f's title as mrkdwn, the client as code:
// "*HIGH scanning* · `203.0.113.7`".
func digestTitle(f detect.Finding) string {
	what := strings.ToUpper(string(f.Severity)) + " " + strings.ReplaceAll(f.Detector, "_", " ")
	if f.Status == detect.StatusResolved {
		what = "Resolved: " + strings.ReplaceAll(f.Detector, "_", " ")
	}
	who := code(clientLabel(f), maxClientBytes*2)
	if f.Client == detect.FleetClient {
		who = "whole fleet"
	}
	return "*" + esc(what, 100) + "* · " + who
}

// severityCounts says how many findings there are per severity, the
// most severe first: "2 critical · 5 high".
func severityCounts(fs []detect.Finding) string {
	counts := map[detect.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	var parts []string
	for _, s := range []detect.Severity{detect.SeverityCritical, detect.SeverityHigh, detect.SeverityMedium, detect.SeverityLow} {
		if counts[s] > 0 {
			parts = append(parts, strconv.Itoa(counts[s])+" "+string(s))
		}
		delete(counts, s)
	}
	other := 0
	for _, n := range counts {
		other += n
	}
	if other > 0 {
		parts = append(parts, strconv.Itoa(other)+" other")
	}
	return strings.Join(parts, " · ")
}
