package chdbtest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// assign stores v, a value of ClickHouse type typ as JSON decoded it
// (json.Number, string, bool, []any or nil), in dst, as Rows.Scan does.
// Zone-less times read in tz, the server's zone.
func assign(dst reflect.Value, v any, typ string, tz *time.Location) error {
	ct := unwrapped(typ)
	if ct.name == "Nullable" {
		if v == nil {
			dst.SetZero()
			return nil
		}
		if dst.Kind() == reflect.Pointer && dst.Type() != typeAny {
			p := reflect.New(dst.Type().Elem())
			if err := assign(p.Elem(), v, ct.arg(0), tz); err != nil {
				return err
			}
			dst.Set(p)
			return nil
		}
		return assign(dst, v, ct.arg(0), tz)
	}
	if dst.Type() == typeAny {
		nv := reflect.New(ScanType(typ)).Elem()
		if nv.Type() == typeAny {
			dst.Set(reflect.ValueOf(v))
			return nil
		}
		if err := assign(nv, v, typ, tz); err != nil {
			return err
		}
		dst.Set(nv)
		return nil
	}
	switch dst.Type() {
	case typeTime:
		t, err := parseTime(v, ct, tz)
		if err != nil {
			return err
		}
		dst.Set(reflect.ValueOf(t))
		return nil
	case typeAddr:
		a, err := netip.ParseAddr(fmt.Sprint(v))
		if err != nil {
			return err
		}
		dst.Set(reflect.ValueOf(a))
		return nil
	}
	return assignKind(dst, v, ct, tz)
}

// assignKind is assign for destinations of a basic kind or a slice.
func assignKind(dst reflect.Value, v any, ct chType, tz *time.Location) error {
	switch dst.Kind() {
	case reflect.String:
		dst.SetString(text(v))
	case reflect.Bool:
		s := text(v)
		dst.SetBool(s == "true" || s == "1")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text(v), 10, 64)
		if err != nil || dst.OverflowInt(n) {
			return fmt.Errorf("%v does not fit %s", v, dst.Type())
		}
		dst.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(text(v), 10, 64)
		if err != nil || dst.OverflowUint(n) {
			return fmt.Errorf("%v does not fit %s", v, dst.Type())
		}
		dst.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := parseFloat(v)
		if err != nil {
			return err
		}
		dst.SetFloat(f)
	case reflect.Slice:
		if dst.Type().Elem().Kind() == reflect.Uint8 {
			dst.SetBytes([]byte(text(v)))
			return nil
		}
		list, ok := v.([]any)
		if !ok || ct.name != "Array" {
			return fmt.Errorf("%v (%s) is not an array", v, ct.name)
		}
		s := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, e := range list {
			if err := assign(s.Index(i), e, ct.arg(0), tz); err != nil {
				return err
			}
		}
		dst.Set(s)
	default:
		return fmt.Errorf("cannot scan %s into %s", ct.name, dst.Type())
	}
	return nil
}

// text is a JSON scalar as its text.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func parseFloat(v any) (float64, error) {
	s := text(v)
	switch strings.ToLower(s) {
	case "nan", "-nan":
		return math.NaN(), nil
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}

// parseTime reads a Date or DateTime as the JSON formats write it: text in
// the column's zone (the server's when the type names none).
func parseTime(v any, ct chType, tz *time.Location) (time.Time, error) {
	s := text(v)
	loc := ct.location(tz)
	layout := "2006-01-02 15:04:05.999999999"
	if len(s) == len("2006-01-02") {
		layout = "2006-01-02"
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q (%s): %w", s, ct.name, err)
	}
	return t, nil
}
