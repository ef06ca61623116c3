package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// PluginID is the type of Grafana's official ClickHouse data source
// (grafana-clickhouse-datasource), the one every panel queries through.
const PluginID = "grafana-clickhouse-datasource"

// pluginVersion is written into every query. The plugin treats a query
// without a 4.x version as a v3 one and rewrites it when the dashboard
// loads; 4.0.0 is the first version of the query model used here.
const pluginVersion = "4.0.0"

// Query formats, as the plugin's backend reads them (grafana/sqlds).
const (
	FormatTimeSeries = 0 // long frames (time, label, value) become one series per label
	FormatTable      = 1
)

// Query is one raw-SQL target of grafana-clickhouse-datasource (the
// plugin's CHSqlQuery). grafana-foundation-sdk has no ClickHouse package,
// so this type is the SDK's extension point for one: it implements
// variants.Dataquery and goes into any panel's targets.
type Query struct {
	RefID         string                `json:"refId"`
	Datasource    *common.DataSourceRef `json:"datasource,omitempty"`
	EditorType    string                `json:"editorType"` // "sql"
	QueryType     string                `json:"queryType"`  // "table" | "timeseries"
	Format        int                   `json:"format"`     // FormatTable | FormatTimeSeries
	RawSQL        string                `json:"rawSql"`
	PluginVersion string                `json:"pluginVersion"`
}

var _ variants.Dataquery = Query{}

// ImplementsDataqueryVariant marks Query as a panel target.
func (Query) ImplementsDataqueryVariant() {}

// DataqueryType is the data source plugin the query is for.
func (Query) DataqueryType() string { return PluginID }

// Equals reports whether other is the same query.
func (q Query) Equals(other variants.Dataquery) bool {
	o, ok := other.(Query)
	if !ok {
		return false
	}
	return q.RefID == o.RefID && q.EditorType == o.EditorType && q.QueryType == o.QueryType &&
		q.Format == o.Format && q.RawSQL == o.RawSQL && q.PluginVersion == o.PluginVersion &&
		sameRef(q.Datasource, o.Datasource)
}

func sameRef(a, b *common.DataSourceRef) bool {
	if a == nil || b == nil {
		return a == b
	}
	return strPtrEq(a.Type, b.Type) && strPtrEq(a.Uid, b.Uid)
}

func strPtrEq(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Validate checks what the plugin needs to run the query.
func (q Query) Validate() error {
	var errs []error
	if q.RefID == "" {
		errs = append(errs, errors.New("refId is empty"))
	}
	if strings.TrimSpace(q.RawSQL) == "" {
		errs = append(errs, errors.New("rawSql is empty"))
	}
	if q.Format != FormatTable && q.Format != FormatTimeSeries {
		errs = append(errs, fmt.Errorf("format %d: want %d (time series) or %d (table)", q.Format, FormatTimeSeries, FormatTable))
	}
	return errors.Join(errs...)
}

// QueryVariantConfig registers Query with the SDK's runtime, so that
// dashboards read back from JSON (cog's unmarshalling) decode their
// ClickHouse targets as Query rather than as an unknown map:
//
//	cog.NewRuntime().RegisterDataqueryVariant(dashboards.QueryVariantConfig())
func QueryVariantConfig() variants.DataqueryConfig {
	decode := func(raw []byte) (variants.Dataquery, error) {
		var q Query
		if err := json.Unmarshal(raw, &q); err != nil {
			return nil, fmt.Errorf("clickhouse query: %w", err)
		}
		return q, nil
	}
	return variants.DataqueryConfig{
		Identifier:                 PluginID,
		DataqueryUnmarshaler:       decode,
		StrictDataqueryUnmarshaler: decode,
	}
}

// queryBuilder is a cog.Builder for a Query, so a Query is added to a
// panel like any of the SDK's own targets.
type queryBuilder struct{ q Query }

var _ cog.Builder[variants.Dataquery] = queryBuilder{}

// Build validates the query. Its errors are cog.BuildErrors, which the
// SDK's panel builders expect of every target builder.
func (b queryBuilder) Build() (variants.Dataquery, error) {
	if err := b.q.Validate(); err != nil {
		return nil, cog.MakeBuildErrors("clickhouse.query", err)
	}
	return b.q, nil
}

// datasourceRef points at the dashboard's ${datasource} variable, so one
// dashboard works against any ClickHouse data source the user picks.
func datasourceRef() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr(PluginID), Uid: cog.ToPtr("${" + varDatasource + "}")}
}

// sqlTarget is a target reading rawSQL through ${datasource}.
func sqlTarget(refID, rawSQL string, format int) queryBuilder {
	qt := "table"
	if format == FormatTimeSeries {
		qt = "timeseries"
	}
	ref := datasourceRef()
	return queryBuilder{Query{
		RefID:         refID,
		Datasource:    &ref,
		EditorType:    "sql",
		QueryType:     qt,
		Format:        format,
		RawSQL:        rawSQL,
		PluginVersion: pluginVersion,
	}}
}
