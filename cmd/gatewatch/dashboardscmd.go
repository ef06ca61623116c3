package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/gatewatch/gatewatch/dashboards"
)

const dashboardsHelp = `
Write gatewatch's Grafana dashboards as JSON files into DIR (created if
missing), for Grafana's file provisioning or for import:

  overview.json   requests, 5xx ratio and auth failures over time, top
                  clients, incidents by detector, open incidents
  client.json     one client ($client): its traffic, status mix, observed
                  vs expected per window, its findings with explanations
  findings.json   every incident in range, filtered by severity, detector
                  and status, with its lifecycle
  pipeline.json   gatewatch's own metrics (lines read, rows stored, errors)
                  from the pipeline_health table

They read the ClickHouse tables "gatewatch store" (or "run" with
clickhouse.addr) fills, through the grafana-clickhouse-datasource plugin,
and use only SQL that ClickHouse 18.16 runs. The database comes from
--database, else clickhouse.database in the config. deploy/grafana/ has
provisioning files for the datasource and a dashboards provider.

Examples:
  gatewatch dashboards /var/lib/grafana/dashboards/gatewatch
  gatewatch dashboards --database audit ./dashboards`

func (c *cli) dashboards(_ context.Context, args []string) error {
	fs := c.newFlags("dashboards", "[flags] DIR", dashboardsHelp)
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	database := fs.String("database", "", "ClickHouse database the dashboards query (default clickhouse.database, gatewatch)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(c.stderr, "gatewatch dashboards: name one directory to write the dashboards into")
		fs.Usage()
		return errUsage
	}
	db := *database
	if db == "" {
		cfg, err := c.loadConfig(*configPath)
		if err != nil {
			return err
		}
		db = cfg.Storage.Database
	}
	opts := dashboards.Options{Database: db}
	ds, err := dashboards.All(opts)
	if err != nil {
		return err
	}
	if err := dashboards.Write(pos[0], opts); err != nil {
		return err
	}
	for _, d := range ds {
		fmt.Fprintln(c.stdout, filepath.Join(pos[0], d.File))
	}
	return nil
}
