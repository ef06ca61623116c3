package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/piechart"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	tablepanel "github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// panelKind is the visualisation of a panel.
type panelKind int

const (
	kindTimeSeries panelKind = iota // lines
	kindBars                        // stacked bars over time
	kindStat
	kindTable
	kindPie
)

// panelSpec is one panel: what it shows, where, and its one query. The
// dashboards are lists of these, so every panel gets the same data
// source, layout rules and link handling.
type panelSpec struct {
	kind        panelKind
	title       string
	description string
	w, h        uint32
	sql         string
	unit        string
	// seriesLabel names the label column of a long time-series frame
	// (time, label, value): each of its values becomes a series named by
	// it rather than "value label=x".
	seriesLabel string
	// clientColumn, in a table, is a column of client keys that links to
	// the client drill-down.
	clientColumn string
	// sortBy, in a table, is the column it opens sorted by, descending.
	sortBy string
}

// format is how the plugin's backend shapes the answer.
func (p panelSpec) format() int {
	if p.kind == kindTimeSeries || p.kind == kindBars {
		return FormatTimeSeries
	}
	return FormatTable
}

// build is the SDK builder of the panel, with id as its panel id.
func (p panelSpec) build(id uint32) cog.Builder[dashboard.Panel] {
	target := sqlTarget("A", p.sql, p.format())
	switch p.kind {
	case kindStat:
		b := stat.NewPanelBuilder().Id(id).Title(p.title).Description(p.description).
			Datasource(datasourceRef()).Span(p.w).Height(p.h).WithTarget(target).
			GraphMode(common.BigValueGraphModeNone).ColorMode(common.BigValueColorModeNone).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false))
		if p.unit != "" {
			b.Unit(p.unit)
		}
		return b
	case kindTable:
		b := tablepanel.NewPanelBuilder().Id(id).Title(p.title).Description(p.description).
			Datasource(datasourceRef()).Span(p.w).Height(p.h).WithTarget(target).
			Filterable(true).
			// The SDK leaves the footer's reducer null, which Grafana's
			// table does not expect.
			Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}))
		if p.sortBy != "" {
			b.SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName(p.sortBy).Desc(true),
			})
		}
		if p.clientColumn != "" {
			b.OverrideByName(p.clientColumn, []dashboard.DynamicConfigValue{{
				Id:    "links",
				Value: []any{map[string]any{"title": "Client drill-down", "url": clientLink}},
			}})
		}
		return b
	case kindPie:
		return piechart.NewPanelBuilder().Id(id).Title(p.title).Description(p.description).
			Datasource(datasourceRef()).Span(p.w).Height(p.h).WithTarget(target).
			PieType(piechart.PieChartTypeDonut).Orientation(common.VizOrientationAuto).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(true))
	default:
		b := timeseries.NewPanelBuilder().Id(id).Title(p.title).Description(p.description).
			Datasource(datasourceRef()).Span(p.w).Height(p.h).WithTarget(target).
			FillOpacity(10).Min(0)
		if p.kind == kindBars {
			b.DrawStyle(common.GraphDrawStyleBars).FillOpacity(80).
				Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
		}
		if p.unit != "" {
			b.Unit(p.unit)
		}
		if p.seriesLabel != "" {
			b.DisplayName("${__field.labels." + p.seriesLabel + "}")
		}
		return b
	}
}

// clientLink opens the client drill-down on the clicked client, keeping
// the time range and the data source.
const clientLink = "/d/" + uidClient + "?var-" + varClient + "=${__value.raw}&var-" + varDatasource + "=${" + varDatasource + "}&${__url_time_range}"
