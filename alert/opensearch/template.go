package opensearch

import "encoding/json"

// TemplatePriority is the index template's priority: above the 0-100
// that built-in and hand-made templates usually take, so the sink's
// mappings win for its own indices.
const TemplatePriority = 200

type object = map[string]any

func typed(t string) object { return object{"type": t} }

func props(p object) object { return object{"properties": p} }

// keyword is a keyword field that still indexes long values' first
// 1024 characters instead of failing the document.
func keyword() object { return object{"type": "keyword", "ignore_above": 1024} }

// IndexTemplate returns the composable index template the sink installs
// as _index_template/<index> for index and index-*: the ECS fields
// gatewatch fills with their ECS types (@timestamp date, source.ip and
// client.ip ip, event.id, rule.name, url.path keyword, event.severity
// long, event.risk_score float), typed gatewatch.* fields, every other
// string a keyword and every other gatewatch.* number a double (so a
// first value of 2 does not make a later 2.5 an integer).
func IndexTemplate(index string) []byte {
	t := object{
		"index_patterns": []string{index, index + "-*"},
		"priority":       TemplatePriority,
		"template":       object{"mappings": mappings()},
		"_meta":          object{"managed_by": "gatewatch", "description": "gatewatch findings as ECS documents"},
	}
	b, err := json.Marshal(t)
	if err != nil {
		panic(err) // a literal of maps and strings always marshals
	}
	return b
}

// mappings is the template's mappings section.
func mappings() object {
	return object{
		"dynamic_templates": []object{
			{"gatewatch_numbers": object{"path_match": "gatewatch.*", "match_mapping_type": "long", "mapping": typed("double")}},
			{"strings_as_keywords": object{"match_mapping_type": "string", "mapping": keyword()}},
		},
		"properties": object{
			"@timestamp": typed("date"),
			"message":    typed("text"),
			"tags":       keyword(),
			"labels":     typed("object"),
			"event": props(object{
				"id": keyword(), "kind": keyword(), "category": keyword(), "type": keyword(),
				"action": keyword(), "outcome": keyword(), "dataset": keyword(), "module": keyword(),
				"provider": keyword(), "code": keyword(), "reason": keyword(), "url": keyword(),
				"severity": typed("long"), "risk_score": typed("float"), "risk_score_norm": typed("float"),
				"start": typed("date"), "end": typed("date"), "created": typed("date"), "ingested": typed("date"),
				"duration": typed("long"),
			}),
			"rule": props(object{
				"name": keyword(), "id": keyword(), "uuid": keyword(), "category": keyword(),
				"ruleset": keyword(), "description": keyword(), "reference": keyword(), "version": keyword(),
			}),
			"source":    props(object{"ip": typed("ip"), "address": keyword(), "domain": keyword()}),
			"client":    props(object{"ip": typed("ip"), "address": keyword(), "domain": keyword()}),
			"url":       props(object{"path": keyword(), "original": keyword(), "domain": keyword()}),
			"user":      props(object{"name": keyword(), "id": keyword()}),
			"observer":  props(object{"hostname": keyword(), "vendor": keyword(), "product": keyword(), "type": keyword()}),
			"ecs":       props(object{"version": keyword()}),
			"gatewatch": props(gatewatchProperties()),
		},
	}
}

// gatewatchProperties types the fields of a detect.Finding under
// gatewatch.*.
func gatewatchProperties() object {
	num := typed("double")
	return object{
		"incident_id": keyword(), "status": keyword(), "client": keyword(), "client_kind": keyword(),
		"detector": keyword(), "detectors": keyword(), "severity": keyword(), "baseline": keyword(),
		"unit": keyword(), "campaign": keyword(), "clients": keyword(), "top_clients": keyword(),
		"routes": keyword(), "samples": keyword(), "delivery_id": keyword(), "sink": keyword(),
		"summary": typed("text"), "why": typed("text"),
		"window_start": typed("date"), "window_end": typed("date"),
		"windows": typed("long"), "history": typed("long"), "client_count": typed("long"),
		"observed": num, "expected": num, "spread": num, "score": num, "p_value": num, "requests": num,
		"totals": props(object{"requests": num, "failures": num, "bytes": num, "distinct_paths": num}),
	}
}
