package inventory

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/internal/human"
)

// tableColumns are WriteTable's columns; the numeric ones are aligned
// right.
var tableColumns = []struct {
	name  string
	right bool
}{
	{"METHOD", false}, {"ROUTE", false}, {"REQUESTS", true}, {"CLIENTS", true}, {"2xx", true}, {"4xx", true},
	{"5xx", true}, {"AUTH", false}, {"P95", true}, {"FIRST", false}, {"LAST", false}, {"VERSIONS", false},
}

// WriteTable prints endpoints (sorted as Endpoints returns them) as an
// aligned table: requests and clients counted, the 2xx, 4xx and 5xx
// shares of the requests, whether authentication is required, the 95th
// percentile response size, first and last seen (UTC, to the minute) and
// the API versions. When the endpoints span more than one host, each
// host's endpoints follow a line naming it and the header, the columns
// aligned across hosts.
func WriteTable(w io.Writer, endpoints []Endpoint) error {
	rows := [][]string{make([]string, len(tableColumns))}
	for i, c := range tableColumns {
		rows[0][i] = c.name
	}
	for i := range endpoints {
		rows = append(rows, tableRow(&endpoints[i]))
	}
	widths := make([]int, len(tableColumns))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	bw := bufio.NewWriter(w)
	grouped := multipleHosts(endpoints)
	if !grouped {
		writeRow(bw, rows[0], widths)
	}
	for i := range endpoints {
		if grouped && (i == 0 || endpoints[i].Host != endpoints[i-1].Host) {
			if i > 0 {
				bw.WriteByte('\n')
			}
			fmt.Fprintf(bw, "HOST %s\n", hostName(endpoints[i].Host))
			writeRow(bw, rows[0], widths)
		}
		writeRow(bw, rows[i+1], widths)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("inventory: table: %w", err)
	}
	return nil
}

// tableRow is one endpoint's cells.
func tableRow(e *Endpoint) []string {
	share := func(n int64) string {
		if n == 0 || e.Requests == 0 {
			return "-"
		}
		return human.Percent(float64(n) / float64(e.Requests))
	}
	auth := "no"
	if e.AuthRequired {
		auth = "yes"
	}
	versions := human.Printable(strings.Join(e.Versions, ","))
	if versions == "" {
		versions = "-"
	}
	return []string{human.Printable(e.Method), human.Printable(e.Route), human.Count(float64(e.Requests)), human.Count(float64(e.Clients)),
		share(e.Status.S2xx), share(e.Status.S4xx), share(e.Status.S5xx), auth, Size(e.BytesP95),
		minute(e.FirstSeen), minute(e.LastSeen), versions}
}

// writeRow writes cells padded to widths, two spaces apart, without
// trailing spaces.
func writeRow(w *bufio.Writer, cells []string, widths []int) {
	var line strings.Builder
	for i, cell := range cells {
		pad := strings.Repeat(" ", widths[i]-len([]rune(cell)))
		if i > 0 {
			line.WriteString("  ")
		}
		if tableColumns[i].right {
			line.WriteString(pad + cell)
		} else {
			line.WriteString(cell + pad)
		}
	}
	w.WriteString(strings.TrimRight(line.String(), " "))
	w.WriteByte('\n')
}

// multipleHosts reports whether the endpoints span more than one host.
func multipleHosts(endpoints []Endpoint) bool {
	for i := range endpoints {
		if endpoints[i].Host != endpoints[0].Host {
			return true
		}
	}
	return false
}

// hostName is how the table names a host: "(none)" when the log did not
// record it.
func hostName(h string) string {
	if h == "" {
		return "(none)"
	}
	return human.Printable(h)
}

// minute formats a time in UTC to the minute, "-" when unknown.
func minute(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// Size formats a size in bytes for people: 512B, 4.2kB, 14kB, 3.1MB.
func Size(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v, u := float64(n), 0
	for v >= 999.5 && u < len(units)-1 {
		v /= 1000
		u++
	}
	if u > 0 && v < 9.95 {
		return fmt.Sprintf("%.1f%s", v, units[u])
	}
	return fmt.Sprintf("%.0f%s", v, units[u])
}

// WriteJSON prints endpoints as JSON, one object (an Endpoint) per line.
func WriteJSON(w io.Writer, endpoints []Endpoint) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range endpoints {
		if err := enc.Encode(&endpoints[i]); err != nil {
			return fmt.Errorf("inventory: json: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("inventory: json: %w", err)
	}
	return nil
}
