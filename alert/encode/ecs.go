package encode

import (
	"slices"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// ecsVersion is the Elastic Common Schema version ECS documents follow.
const ecsVersion = "8.11.0"

// ecsDocument is one ECS document.
type ecsDocument struct {
	Timestamp string           `json:"@timestamp,omitempty"`
	Message   string           `json:"message,omitempty"`
	ECS       ecsVersionField  `json:"ecs"`
	Event     ecsEvent         `json:"event"`
	Rule      ecsRule          `json:"rule"`
	Source    *ecsSource       `json:"source,omitempty"`
	User      *ecsUser         `json:"user,omitempty"`
	URL       *ecsURL          `json:"url,omitempty"`
	HTTP      *ecsHTTP         `json:"http,omitempty"`
	Related   *ecsRelated      `json:"related,omitempty"`
	Observer  ecsObserver      `json:"observer"`
	Gatewatch *gatewatchFields `json:"gatewatch"`
}

type ecsVersionField struct {
	Version string `json:"version"`
}

type ecsEvent struct {
	Kind     string   `json:"kind"`
	ID       string   `json:"id,omitempty"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Action   string   `json:"action,omitempty"`
	Severity int      `json:"severity"`
	Start    string   `json:"start,omitempty"`
	End      string   `json:"end,omitempty"`
	Duration int64    `json:"duration,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Dataset  string   `json:"dataset"`
	Module   string   `json:"module"`
}

type ecsRule struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Ruleset     string `json:"ruleset"`
}

type ecsSource struct {
	IP     string `json:"ip,omitempty"`
	Domain string `json:"domain,omitempty"`
}

type ecsUser struct {
	ID string `json:"id"`
}

type ecsURL struct {
	Path string `json:"path"`
}

type ecsHTTP struct {
	Request struct {
		Method string `json:"method"`
	} `json:"request"`
}

type ecsRelated struct {
	IP    []string `json:"ip,omitempty"`
	User  []string `json:"user,omitempty"`
	Hosts []string `json:"hosts,omitempty"`
}

type ecsObserver struct {
	Hostname string `json:"hostname,omitempty"`
	Product  string `json:"product"`
	Vendor   string `json:"vendor"`
	Version  string `json:"version"`
	Type     string `json:"type"`
}

// ECS appends n as one Elastic Common Schema document (a JSON object, no
// trailing newline), for Elasticsearch or OpenSearch:
//
//   - @timestamp: the end of the last window; message and event.reason:
//     the summary;
//   - event: kind "alert", id the delivery id (index with it as the
//     document id and redeliveries overwrite), category
//     ["intrusion_detection", "web"], type ["info"], action the status,
//     severity 3/5/8/10, start/end/duration the incident's windows,
//     dataset "gatewatch.finding";
//   - rule: id and name the detector, description why;
//   - source.ip for a client of kind "ip" that is an address, never
//     anything else (an ip-typed mapping rejects the whole document);
//     source.domain for a host-name client; user.id for an API key, JWT
//     subject, certificate or token; related.ip/user/hosts for pivoting,
//     with the campaign's and the fleet's clients that are addresses;
//   - url.path and http.request.method: the first route;
//   - observer: hostname n.Host, product and vendor gatewatch;
//   - gatewatch: every field of the finding, as docs/findings.md names
//     them; NaN and infinite figures as null.
//
// Invalid UTF-8 becomes U+FFFD; every other string is kept as it is.
func ECS(dst []byte, n alert.Notification) ([]byte, error) {
	f := &n.Finding
	doc := ecsDocument{
		Timestamp: isoTime(f.WindowEnd),
		Message:   f.Summary,
		ECS:       ecsVersionField{ecsVersion},
		Event:     ecsEventOf(n),
		Rule:      ecsRule{ID: f.Detector, Name: f.Detector, Description: f.Why, Ruleset: productName},
		Observer: ecsObserver{Hostname: n.Host, Product: productName, Vendor: vendorName,
			Version: ProductVersion, Type: "ids"},
		Gatewatch: newGatewatchFields(f),
	}
	ecsClient(&doc, f)
	if method, path := request(f); path != "" {
		doc.URL = &ecsURL{Path: path}
		if method != "" {
			doc.HTTP = &ecsHTTP{}
			doc.HTTP.Request.Method = method
		}
	}
	return appendJSON(dst, &doc)
}

// ecsEventOf returns the event fields of n.
func ecsEventOf(n alert.Notification) ecsEvent {
	f := &n.Finding
	ev := ecsEvent{
		Kind: "alert", ID: n.DeliveryID, Category: []string{"intrusion_detection", "web"},
		Type: []string{"info"}, Action: string(f.Status), Severity: severityLevel(f.Severity),
		Start: isoTime(f.WindowStart), End: isoTime(f.WindowEnd), Reason: f.Summary,
		Dataset: "gatewatch.finding", Module: productName,
	}
	if d := f.WindowEnd.Sub(f.WindowStart); d > 0 {
		ev.Duration = d.Nanoseconds()
	}
	return ev
}

// ecsClient sets the fields naming the client: source.ip, source.domain
// or user.id, and related.
func ecsClient(doc *ecsDocument, f *detect.Finding) {
	rel := &ecsRelated{}
	if ip, ok := clientIP(f); ok {
		doc.Source = &ecsSource{IP: ip.String()}
		rel.IP = append(rel.IP, ip.String())
	} else if f.ClientKind == kindHost && f.Client != "" {
		doc.Source = &ecsSource{Domain: f.Client}
		rel.Hosts = append(rel.Hosts, f.Client)
	} else if u := clientUser(f); u != "" {
		doc.User = &ecsUser{ID: u}
		rel.User = append(rel.User, u)
	}
	for _, c := range slices.Concat(f.Clients, f.TopClients) {
		if ip, ok := clientIP(&detect.Finding{Client: c, ClientKind: kindIP}); ok && !slices.Contains(rel.IP, ip.String()) {
			rel.IP = append(rel.IP, ip.String())
		}
	}
	if len(rel.IP)+len(rel.User)+len(rel.Hosts) > 0 {
		doc.Related = rel
	}
}
