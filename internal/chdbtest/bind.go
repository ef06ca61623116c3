package chdbtest

import (
	"errors"
	"regexp"
	"time"
	_ "unsafe" // go:linkname

	_ "github.com/ClickHouse/clickhouse-go/v2" // bind below
)

// driverBind is clickhouse-go's own client-side binding of ?, $N and @name
// arguments (bind.go of github.com/ClickHouse/clickhouse-go/v2, unexported):
// what the native protocol sends for a query with arguments, so the SQL
// run on chdb is byte for byte what a server would receive. Pinned by
// go.mod; should a later clickhouse-go rename it, the link fails loudly
// and TestChdbBindLikeDriver says where to look.
//
//go:linkname driverBind github.com/ClickHouse/clickhouse-go/v2.bind
func driverBind(tz *time.Location, query string, args ...any) (string, error)

// serverParams is clickhouse-go's test for a query using {name:Type}
// server-side parameters (query_parameters.go), which it sends apart
// from the text: not a path gatewatch uses, so not one emulated here.
var serverParams = regexp.MustCompile("{.+:.+}")

// Bind is the text clickhouse-go sends for query with args over the
// native protocol to a server in zone tz.
func Bind(tz *time.Location, query string, args ...any) (string, error) {
	if len(args) == 0 {
		return query, nil
	}
	if serverParams.MatchString(query) {
		return "", errors.New("chdbtest: {name:Type} parameters with arguments are sent as server-side parameters, which Conn does not emulate")
	}
	return driverBind(tz, query, args...)
}
