// Command gatewatch audits API-gateway traffic and finds clients that
// deviate from their own past: volume spikes, error-ratio jumps, auth
// failures, floods and credential stuffing.
//
// Run "gatewatch help" for the subcommands, or "gatewatch demo" to watch it
// find attacks in simulated traffic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/gatewatch/gatewatch/ingest"

	"github.com/gatewatch/gatewatch/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(c.main(ctx, os.Args[1:]))
}

// cli carries the process's environment so commands can be tested
// without touching the real one.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// Bounds for analyze's sorting of unordered input, smaller in tests;
	// zero means the defaults (64 MiB each).
	sortRunBytes int // one sorted run of events
	holdBytes    int // findings held in memory until the input proves ordered
}

type command struct {
	name    string
	summary string
	run     func(c *cli, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"demo", "run the pipeline on built-in simulated gateway traffic with injected attacks", (*cli).demo},
		{"analyze", "replay access-log files through the detectors and print findings", (*cli).analyze},
		{"endpoints", "list the API's endpoints learnt from access logs: routes, methods, status mix, auth, sizes", (*cli).endpoints},
		{"run", "run the embedded pipeline on live inputs (tail files, stdin)", (*cli).run},
		{"collect", "ship access logs (files, stdin, syslog, HTTP) to Kafka as normalised events", (*cli).collect},
		{"detect", "run the detectors as a Kafka consumer group (events topic -> findings topic)", (*cli).detect},
		{"store", "store events and findings from Kafka in ClickHouse", (*cli).store},
		{"alert", "deliver findings from Kafka to Slack and SIEMs (syslog, Splunk HEC, OpenSearch, webhooks)", (*cli).alert},
		{"events", "print the events topic as JSON lines, whatever its wire encoding (a kcat | jq for gatewatch)", (*cli).events},
		{"migrate", "create or update gatewatch's ClickHouse tables", (*cli).migrate},
		{"query", "ask the stored audit trail: a client's timeline, top clients, open findings, requests outside the contract", (*cli).query},
		{"explain", "explain one stored incident: why, its windows against the baseline, the band as a PNG", (*cli).explain},
		{"dashboards", "write the Grafana dashboards (JSON) that read the stored audit trail", (*cli).dashboards},
		{"formats", "list the log formats gatewatch reads", (*cli).formats},
		{"config", "print an example config file with every setting and its default", (*cli).config},
		{"version", "print the version", (*cli).version},
	}
}

const topUsage = `gatewatch finds API clients that deviate from their own past.

It reads API-gateway access logs (nginx, Apache, Envoy, Kong, Traefik, HAProxy,
AWS ALB and API Gateway), keys every request by client (API key, JWT subject,
mTLS subject, else IP), keeps a baseline per client of request volume, error
ratio and auth failures, and reports a finding when a client leaves it.

Usage:
  gatewatch <command> [flags] [args]

Commands:
%s
Try it:
  gatewatch demo                              # simulated traffic, attacks found in seconds
  gatewatch analyze /var/log/nginx/access.log # replay your own log
  gatewatch analyze --output text access.log.1 access.log.gz
  gatewatch endpoints access.log              # the API's endpoints, learnt from its traffic
  gatewatch run --config gatewatch.yaml       # tail live logs

Run "gatewatch <command> --help" for a command's flags and examples.
Configuration: a YAML file (--config or $GATEWATCH_CONFIG); "gatewatch config"
prints one with every setting documented.
`

func (c *cli) usage(w io.Writer) {
	var b strings.Builder
	for _, cmd := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, topUsage, b.String())
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

// exitError is a command's failure with an exit status of its own (not
// 1), for outcomes a script must tell apart from a crash.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func (c *cli) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage(c.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return c.main(ctx, []string{args[1], "--help"})
		}
		c.usage(c.stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	for _, cmd := range commands() {
		if cmd.name != name {
			continue
		}
		err := cmd.run(c, ctx, args[1:])
		var exit *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.Is(err, context.Canceled):
			fmt.Fprintf(c.stderr, "gatewatch %s: interrupted\n", name)
			return 130
		case errors.As(err, &exit):
			fmt.Fprintf(c.stderr, "gatewatch %s: %v\n", name, err)
			return exit.code
		default:
			fmt.Fprintf(c.stderr, "gatewatch %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(c.stderr, "gatewatch: unknown command %q\n\n", name)
	c.usage(c.stderr)
	return 2
}

// newFlags returns a FlagSet whose --help prints the command's description,
// examples and flags.
func (c *cli) newFlags(name, usage, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: gatewatch %s %s\n\n%s\n\nFlags:\n", name, usage, strings.TrimSpace(description))
		fs.VisitAll(func(f *flag.Flag) {
			typ, help := flag.UnquoteUsage(f)
			fmt.Fprintf(out, "  --%s", f.Name)
			if typ != "" {
				fmt.Fprintf(out, " %s", typ)
			}
			fmt.Fprintf(out, "\n      %s", help)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(out)
		})
	}
	return fs
}

// parseArgs parses flags that may come before, between or after the
// positional arguments (gatewatch analyze access.log --output text), and
// returns the positional ones. "--" ends flag parsing.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *cli) version(_ context.Context, args []string) error {
	fs := c.newFlags("version", "", "Print the gatewatch version.")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "gatewatch %s\n", version)
	return nil
}

func (c *cli) formats(_ context.Context, args []string) error {
	fs := c.newFlags("formats", "", "List the access-log formats gatewatch parses, for --format and the\nsources[].format config setting. \"auto\" (the default) detects the format\nfrom the first lines of each input.")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	names := ingest.Formats()
	sort.Strings(names)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(c.stdout, "%-*s %s\n", width, n, ingest.FormatDoc(n))
	}
	return nil
}

func (c *cli) config(_ context.Context, args []string) error {
	fs := c.newFlags("config", "", "Print an example config file: every setting, what it does, and its default.\n\nExample:\n  gatewatch config > gatewatch.yaml")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	_, err := c.stdout.Write(config.Example)
	return err
}

// flagSet reports whether the named flag was given on the command line,
// so an explicit empty value can override the config.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
