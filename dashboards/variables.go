package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/gatewatch/gatewatch/detect"
)

// Dashboard variable names.
const (
	varDatasource = "datasource"
	varDatabase   = "database"
	varClient     = "client"
	varSeverity   = "severity"
	varDetector   = "detector"
	varStatus     = "status"
	varHost       = "host"
)

// allValue is what Grafana stores as the value of a multi-value
// variable set to "All".
const allValue = "$__all"

// datasourceVar picks the ClickHouse data source every panel reads.
func datasourceVar() cog.Builder[dashboard.VariableModel] {
	return dashboard.NewDatasourceVariableBuilder(varDatasource).Label("ClickHouse").Type(PluginID)
}

// databaseVar is the database holding gatewatch's tables, a hidden
// constant: the tables' names are part of the SQL, the database is a
// deployment choice (storage.Options.Database).
func databaseVar(db string) cog.Builder[dashboard.VariableModel] {
	return dashboard.NewConstantVariableBuilder(varDatabase).Value(dashboard.StringOrMap{String: cog.ToPtr(db)})
}

// queryVar is a variable whose options a ClickHouse query lists, read
// again whenever the time range changes.
func queryVar(name, label, sql string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(datasourceRef()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(sql)}).Definition(sql).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged)
}

// multiAll makes a variable multi-value, starting at "All". Queries use
// such a variable through filter ($__conditionalAll), so "All" drops the
// condition instead of listing every value.
func multiAll[B interface {
	Multi(bool) B
	IncludeAll(bool) B
	Current(dashboard.VariableOption) B
}](b B) B {
	return b.Multi(true).IncludeAll(true).Current(dashboard.VariableOption{
		Selected: cog.ToPtr(true),
		Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
		Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{allValue}},
	})
}

// customVar is a variable over a fixed list of values.
func customVar(name, label string, values []string) *dashboard.CustomVariableBuilder {
	return dashboard.NewCustomVariableBuilder(name).Label(label).
		Values(dashboard.StringOrMap{String: cog.ToPtr(strings.Join(values, ","))})
}

// severities and statuses are detect's, least severe and earliest first.
func severities() []string {
	return []string{string(detect.SeverityLow), string(detect.SeverityMedium), string(detect.SeverityHigh), string(detect.SeverityCritical)}
}

func statuses() []string {
	return []string{string(detect.StatusOpen), string(detect.StatusUpdate), string(detect.StatusResolved)}
}

// filter is the SQL condition of a multi-value filter variable on col:
// the plugin replaces it by 1=1 when the variable is "All".
func filter(col, variable string) string {
	return "$__conditionalAll(" + col + " IN (${" + variable + ":sqlstring}), $" + variable + ")"
}
