package contract

import "time"

// Report is one request outside the contract, as the audit trail keeps it
// (storage's contract_violations table, the request audit's output).
type Report struct {
	Time       time.Time   `json:"time"`
	Client     string      `json:"client"`
	ClientKind string      `json:"client_kind,omitempty"`
	Host       string      `json:"host,omitempty"`
	Method     string      `json:"method"`
	Route      string      `json:"route"`
	Path       string      `json:"path"`
	Status     int         `json:"status"`
	RequestID  string      `json:"request_id,omitempty"`
	Violations []Violation `json:"reasons"`
}
