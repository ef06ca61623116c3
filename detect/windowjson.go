package detect

import (
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// AppendJSON appends ws's JSON encoding — what encoding/json writes for
// it, field for field, decoded alike — to dst, without reflection: the
// windows topic carries one record per active client and window, about
// one for every three events, so its encoding is on the detectors' hot
// path.
func (ws *WindowStats) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"client":`...)
	dst = ingest.AppendJSONString(dst, ws.Client)
	dst = append(dst, `,"client_kind":`...)
	dst = ingest.AppendJSONString(dst, ws.ClientKind)
	dst = appendTimeField(dst, `,"window_start":"`, ws.Start)
	dst = appendTimeField(dst, `,"window_end":"`, ws.End)
	dst = appendUintField(dst, `,"requests":`, ws.Requests)
	dst = appendUintField(dst, `,"errors":`, ws.Errors)
	dst = appendUintField(dst, `,"auth_failures":`, ws.AuthFailures)
	dst = appendUintField(dst, `,"bytes_out":`, ws.BytesOut)
	dst = appendFloatField(dst, `,"expected_requests":`, ws.ExpectedRequests)
	dst = appendFloatField(dst, `,"expected_error_ratio":`, ws.ExpectedErrorRatio)
	dst = appendFloatField(dst, `,"expected_auth_failures":`, ws.ExpectedAuthFailures)
	for _, f := range [...]struct {
		key string
		v   float64
	}{{`,"spread_requests":`, ws.SpreadRequests}, {`,"spread_error_ratio":`, ws.SpreadErrorRatio},
		{`,"spread_auth_failures":`, ws.SpreadAuthFailures}} {
		if f.v != 0 { // omitempty
			dst = appendFloatField(dst, f.key, f.v)
		}
	}
	return append(dst, '}')
}

func appendTimeField(dst []byte, key string, t time.Time) []byte {
	dst = append(dst, key...)
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func appendUintField(dst []byte, key string, v uint64) []byte {
	return strconv.AppendUint(append(dst, key...), v, 10)
}

// appendFloatField appends a finite float as encoding/json would read it
// back; WindowStats holds finite numbers only (finite in engine.go).
func appendFloatField(dst []byte, key string, v float64) []byte {
	return strconv.AppendFloat(append(dst, key...), v, 'g', -1, 64)
}
