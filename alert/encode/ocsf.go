package encode

import (
	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// OCSF class of the findings: Detection Finding, in category Findings,
// as of schema version ocsfVersion.
const (
	ocsfVersion      = "1.3.0"
	ocsfClassUID     = 2004
	ocsfClassName    = "Detection Finding"
	ocsfCategoryUID  = 2
	ocsfCategoryName = "Findings"
	ocsfOther        = 99 // activity_id and status_id of an unknown status
)

// ocsfFinding is one OCSF Detection Finding event.
type ocsfFinding struct {
	ActivityID     int              `json:"activity_id"`
	ActivityName   string           `json:"activity_name"`
	CategoryUID    int              `json:"category_uid"`
	CategoryName   string           `json:"category_name"`
	ClassUID       int              `json:"class_uid"`
	ClassName      string           `json:"class_name"`
	TypeUID        int              `json:"type_uid"`
	TypeName       string           `json:"type_name"`
	Time           int64            `json:"time"`
	TimezoneOffset int              `json:"timezone_offset"`
	StartTime      int64            `json:"start_time"`
	EndTime        int64            `json:"end_time"`
	Count          int              `json:"count,omitempty"`
	SeverityID     int              `json:"severity_id"`
	Severity       string           `json:"severity"`
	StatusID       int              `json:"status_id"`
	Status         string           `json:"status"`
	Message        string           `json:"message,omitempty"`
	Metadata       ocsfMetadata     `json:"metadata"`
	FindingInfo    ocsfFindingInfo  `json:"finding_info"`
	Evidences      []ocsfEvidence   `json:"evidences"`
	Unmapped       *gatewatchFields `json:"unmapped"`
}

type ocsfMetadata struct {
	UID            string      `json:"uid,omitempty"`
	CorrelationUID string      `json:"correlation_uid,omitempty"`
	Version        string      `json:"version"`
	Product        ocsfProduct `json:"product"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version"`
}

type ocsfFindingInfo struct {
	UID           string       `json:"uid"`
	Title         string       `json:"title"`
	Desc          string       `json:"desc,omitempty"`
	Types         []string     `json:"types,omitempty"`
	FirstSeenTime int64        `json:"first_seen_time"`
	LastSeenTime  int64        `json:"last_seen_time"`
	Analytic      ocsfAnalytic `json:"analytic"`
}

type ocsfAnalytic struct {
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

type ocsfEvidence struct {
	SrcEndpoint *ocsfEndpoint    `json:"src_endpoint,omitempty"`
	Actor       *ocsfActor       `json:"actor,omitempty"`
	URL         *ocsfURL         `json:"url,omitempty"`
	Data        ocsfEvidenceData `json:"data"`
}

type ocsfEndpoint struct {
	IP       string `json:"ip,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

type ocsfActor struct {
	User struct {
		Name string `json:"name"`
	} `json:"user"`
}

type ocsfURL struct {
	Path string `json:"path"`
}

// ocsfEvidenceData is the evidence OCSF 1.3 has no attribute for.
type ocsfEvidenceData struct {
	Client     string   `json:"client"`
	ClientKind string   `json:"client_kind"`
	HTTPMethod string   `json:"http_method,omitempty"`
	Routes     []string `json:"routes,omitempty"`
	Samples    []string `json:"samples,omitempty"`
	Clients    []string `json:"clients,omitempty"`
	TopClients []string `json:"top_clients,omitempty"`
}

// OCSF appends n as one OCSF 1.3.0 Detection Finding (class_uid 2004,
// category_uid 2): a JSON object, no trailing newline.
//
// activity_id is 1 Create for an open finding, 2 Update for an update
// and 3 Close for a resolved one (99 Other for another status), type_uid
// class_uid*100+activity_id; status_id is 1 New, 2 In Progress or 4
// Resolved. finding_info.uid is the incident id, the same in every
// emission of an incident, so a consumer folds them into one finding;
// metadata.uid is the delivery id, different per emission (and the same
// when one emission is redelivered), and metadata.correlation_uid the
// incident id. time and finding_info.last_seen_time are the end of the
// last window, start_time and first_seen_time the start of the first, in
// ms since the epoch; count is the anomalous windows. severity_id is 2
// Low, 3 Medium, 4 High or 5 Critical. finding_info.analytic names the
// detector, as Statistical, or Rule for the floor-based ones (baseline
// "none"). The one evidence holds src_endpoint.ip (a client that is an
// address) or src_endpoint.hostname (a host name) or actor.user.name
// (another client key), url.path (the first route) and, in data, the
// client, the method, routes, samples and clients. unmapped holds every
// field of the finding (as ECS's gatewatch object). Invalid UTF-8 becomes
// U+FFFD.
func OCSF(dst []byte, n alert.Notification) ([]byte, error) {
	f := &n.Finding
	activity, activityName, status, statusName := ocsfStatus(f.Status)
	sev := f.Severity.Rank()
	ev := ocsfFinding{
		ActivityID: activity, ActivityName: activityName,
		CategoryUID: ocsfCategoryUID, CategoryName: ocsfCategoryName,
		ClassUID: ocsfClassUID, ClassName: ocsfClassName,
		TypeUID: ocsfClassUID*100 + activity, TypeName: ocsfClassName + ": " + activityName,
		Time: epochMillis(f.WindowEnd), StartTime: epochMillis(f.WindowStart), EndTime: epochMillis(f.WindowEnd),
		Count:      f.Windows,
		SeverityID: sev + 2, Severity: [...]string{"Low", "Medium", "High", "Critical"}[sev],
		StatusID: status, Status: statusName, Message: f.Summary,
		Metadata: ocsfMetadata{UID: n.DeliveryID, CorrelationUID: f.IncidentID, Version: ocsfVersion,
			Product: ocsfProduct{Name: productName, VendorName: vendorName, Version: ProductVersion}},
		FindingInfo: ocsfInfo(f),
		Evidences:   []ocsfEvidence{ocsfEvidenceOf(f)},
		Unmapped:    newGatewatchFields(f),
	}
	return appendJSON(dst, &ev)
}

// ocsfStatus maps a finding's status to OCSF's activity and status.
func ocsfStatus(s detect.Status) (activity int, activityName string, status int, statusName string) {
	switch s {
	case detect.StatusOpen:
		return 1, "Create", 1, "New"
	case detect.StatusUpdate:
		return 2, "Update", 2, "In Progress"
	case detect.StatusResolved:
		return 3, "Close", 4, "Resolved"
	}
	return ocsfOther, string(s), ocsfOther, string(s)
}

// ocsfInfo returns the finding_info of f.
func ocsfInfo(f *detect.Finding) ocsfFindingInfo {
	info := ocsfFindingInfo{
		UID: f.IncidentID, Title: eventName(f.Detector), Desc: f.Why, Types: f.Detectors,
		FirstSeenTime: epochMillis(f.WindowStart), LastSeenTime: epochMillis(f.WindowEnd),
		Analytic: ocsfAnalytic{UID: f.Detector, Name: f.Detector, TypeID: 3, Type: "Statistical"},
	}
	if info.Desc == "" {
		info.Desc = f.Summary
	}
	if len(info.Types) == 0 && f.Detector != "" {
		info.Types = []string{f.Detector}
	}
	if f.Baseline == detect.BaselineNone {
		info.Analytic.TypeID, info.Analytic.Type = 1, "Rule"
	}
	return info
}

// ocsfEvidenceOf returns the evidence of f.
func ocsfEvidenceOf(f *detect.Finding) ocsfEvidence {
	method, path := request(f)
	ev := ocsfEvidence{Data: ocsfEvidenceData{
		Client: f.Client, ClientKind: f.ClientKind, HTTPMethod: method, Routes: f.Routes,
		Samples: f.Samples, Clients: f.Clients, TopClients: f.TopClients,
	}}
	if ip, ok := clientIP(f); ok {
		ev.SrcEndpoint = &ocsfEndpoint{IP: ip.String()}
	} else if f.ClientKind == kindHost && f.Client != "" {
		ev.SrcEndpoint = &ocsfEndpoint{Hostname: f.Client}
	} else if u := clientUser(f); u != "" {
		ev.Actor = &ocsfActor{}
		ev.Actor.User.Name = u
	}
	if path != "" {
		ev.URL = &ocsfURL{Path: path}
	}
	return ev
}
