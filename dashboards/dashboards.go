package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/gatewatch/gatewatch/storage"
)

// Options configure the dashboards. The zero value reads the "gatewatch"
// database, storage's default.
type Options struct {
	// Database is the ClickHouse database holding gatewatch's tables
	// (storage.Options.Database). Letters, digits and underscores.
	Database string
}

func (o *Options) setDefaults() {
	if o.Database == "" {
		o.Database = "gatewatch"
	}
}

// Dashboard UIDs: stable, so links between the dashboards and bookmarks
// survive regeneration.
const (
	uidOverview  = "gatewatch-overview"
	uidClient    = "gatewatch-client"
	uidFindings  = "gatewatch-findings"
	uidPipeline  = "gatewatch-pipeline"
	uidEndpoints = "gatewatch-endpoints"
)

// tag marks gatewatch's dashboards; each dashboard links to the others
// through it.
const tag = "gatewatch"

// Dashboard is one generated dashboard.
type Dashboard struct {
	// File is the name it is written under, e.g. "overview.json".
	File string
	// Spec is the dashboard as the SDK models it.
	Spec dashboard.Dashboard
}

// UID is the dashboard's uid.
func (d Dashboard) UID() string {
	if d.Spec.Uid == nil {
		return ""
	}
	return *d.Spec.Uid
}

// JSON is the dashboard as Grafana imports and provisions it: indented,
// with a final newline, the same bytes for the same Options.
func (d Dashboard) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(d.Spec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dashboards: marshal %s: %w", d.File, err)
	}
	return append(unescapeHTML(b), '\n'), nil
}

// unescapeHTML undoes encoding/json's escaping of <, > and & (the SDK's
// MarshalJSON methods escape them whatever the outer encoder is told), so
// the SQL in the files reads as written. An escape preceded by an odd
// number of backslashes is literal text and stays.
func unescapeHTML(b []byte) []byte {
	out := b[:0:0]
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+5 < len(b) && b[i+1] == 'u' && b[i+2] == '0' && b[i+3] == '0' {
			var c byte
			switch string(b[i+4 : i+6]) {
			case "3c":
				c = '<'
			case "3e":
				c = '>'
			case "26":
				c = '&'
			}
			if c != 0 {
				out = append(out, c)
				i += 5
				continue
			}
		}
		if b[i] == '\\' && i+1 < len(b) {
			// An escaped character, whatever it is, is copied as a pair,
			// so the next backslash seen starts an escape of its own.
			out = append(out, b[i], b[i+1])
			i++
			continue
		}
		out = append(out, b[i])
	}
	return out
}

// All builds every dashboard: overview, client drill-down, findings,
// pipeline, endpoints.
func All(opts Options) ([]Dashboard, error) {
	opts.setDefaults()
	if !validIdent(opts.Database) {
		return nil, fmt.Errorf("dashboards: database name %q: use letters, digits and underscores", opts.Database)
	}
	specs := []struct {
		file  string
		build func(Options) *dashboard.DashboardBuilder
	}{
		{"overview.json", overview},
		{"client.json", client},
		{"findings.json", findings},
		{"pipeline.json", pipeline},
		{"endpoints.json", endpoints},
	}
	out := make([]Dashboard, 0, len(specs))
	for _, s := range specs {
		d, err := s.build(opts).Build()
		if err != nil {
			return nil, fmt.Errorf("dashboards: build %s: %w", s.file, err)
		}
		out = append(out, Dashboard{File: s.file, Spec: d})
	}
	return out, nil
}

// Write writes every dashboard's JSON into dir (created if missing),
// where Grafana's file provisioning can read them.
func Write(dir string, opts Options) error {
	ds, err := All(opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dashboards: %w", err)
	}
	for _, d := range ds {
		b, err := d.JSON()
		if err != nil {
			return err
		}
		path := filepath.Join(dir, d.File)
		// Leave an unchanged file alone: Grafana's provisioning reloads on
		// modification time.
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("dashboards: %w", err)
		}
	}
	return nil
}

// base is what every dashboard shares: uid, title, tags, time range,
// the data source and database variables, links to the other dashboards.
func base(opts Options, uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{tag}).
		Editable().
		Timezone(common.TimeZoneUtc).
		Time("now-6h", "now").
		Refresh("1m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("gatewatch").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{tag}).
			AsDropdown(true).
			KeepTime(true).
			IncludeVars(false).
			TargetBlank(false)).
		WithVariable(datasourceVar()).
		WithVariable(databaseVar(opts.Database))
}

// addPanels adds the panels in order, numbering them from 1; the SDK
// flows them left to right, top to bottom on Grafana's 24-column grid.
func addPanels(b *dashboard.DashboardBuilder, panels []panelSpec) *dashboard.DashboardBuilder {
	for i, p := range panels {
		b.WithPanel(p.build(uint32(i + 1)))
	}
	return b
}

// validIdent reports whether s can name a database, by storage's rule.
func validIdent(s string) bool { return storage.ValidName(s) }

var _ cog.Builder[dashboard.Dashboard] = (*dashboard.DashboardBuilder)(nil)
