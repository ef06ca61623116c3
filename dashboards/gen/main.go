// Command gen writes gatewatch's Grafana dashboards as JSON files, for
// Grafana's file provisioning:
//
//	go run ./dashboards/gen -out dashboards/json
//
// `go generate ./dashboards` runs it with the committed defaults.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gatewatch/gatewatch/dashboards"
)

func main() {
	out := flag.String("out", "json", "directory to write the dashboards into")
	db := flag.String("database", "gatewatch", "ClickHouse database holding gatewatch's tables")
	flag.Parse()
	if err := dashboards.Write(*out, dashboards.Options{Database: *db}); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
