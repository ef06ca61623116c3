package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/alert"
)

// maxReason is the most bytes of a per-document failure reason kept in a
// RejectedError.
const maxReason = 512

// bulkPath asks only for what collect reads, so that a 500-document
// answer stays small.
const bulkPath = "/_bulk?filter_path=errors,items.*._id,items.*.status,items.*.error"

// bulkBody renders the NDJSON body: a create action and the document for
// every notification the Encoder turns into a JSON object. ids lists
// their delivery ids in body order; rejected holds the reasons of the
// others.
func (s *Sink) bulkBody(ns []alert.Notification) (body []byte, ids []string, rejected map[string]string) {
	var buf bytes.Buffer
	var scratch []byte
	for _, n := range ns {
		var err error
		scratch, err = s.o.Encoder(scratch[:0], n)
		if err == nil {
			err = jsonObject(scratch)
		}
		if err != nil {
			if rejected == nil {
				rejected = make(map[string]string)
			}
			rejected[n.DeliveryID] = "encode: " + err.Error()
			continue
		}
		action, _ := json.Marshal(map[string]map[string]string{"create": {"_index": s.IndexFor(n), "_id": n.DeliveryID}})
		buf.Write(action)
		buf.WriteByte('\n')
		_ = json.Compact(&buf, scratch) // checked by jsonObject; one line, as NDJSON needs
		buf.WriteByte('\n')
		ids = append(ids, n.DeliveryID)
	}
	return buf.Bytes(), ids, rejected
}

// jsonObject checks that b is one JSON object.
func jsonObject(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return errors.New("the encoder's output is not a JSON object")
	}
	return nil
}

// bulkAnswer is the part of a _bulk answer the sink reads.
type bulkAnswer struct {
	Errors bool                  `json:"errors"`
	Items  []map[string]bulkItem `json:"items"`
}

// bulkItem is one document's result.
type bulkItem struct {
	ID     string     `json:"_id"`
	Status int        `json:"status"`
	Error  *itemError `json:"error"`
}

// itemError is OpenSearch's error object.
type itemError struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *itemError `json:"caused_by"`
}

func (e *itemError) String() string {
	if e == nil {
		return "no reason given"
	}
	s := e.Type + ": " + e.Reason
	if c := e.CausedBy; c != nil {
		s += " (caused by " + c.Type + ": " + c.Reason + ")"
	}
	return s
}

// bulk posts body, a batch of docs documents, and decodes the answer.
func (s *Sink) bulk(ctx context.Context, body []byte, docs int) (*bulkAnswer, bool, error) {
	ans, err := s.do(ctx, http.MethodPost, bulkPath, "application/x-ndjson", body)
	if err != nil {
		return nil, true, fmt.Errorf("opensearch %s: _bulk: %w", s.o.Name, err)
	}
	if ans.status != http.StatusOK {
		retry, err := classify(fmt.Sprintf("_bulk of %d documents (%d bytes)", docs, len(body)), ans, docs)
		return nil, retry, fmt.Errorf("opensearch %s: %w", s.o.Name, err)
	}
	var b bulkAnswer
	if err := json.Unmarshal(ans.raw, &b); err != nil {
		return nil, true, fmt.Errorf("opensearch %s: _bulk answer: %w", s.o.Name, err)
	}
	return &b, false, nil
}

// collect reads the per-document results: 200/201 created and 409
// (created by an earlier attempt) are delivered; 429 and 5xx make the
// whole batch worth retrying; anything else rejects that document, its
// reason added to rejected.
func (s *Sink) collect(b *bulkAnswer, ids []string, rejected map[string]string) (bool, error) {
	if !b.Errors {
		return false, nil // every document created
	}
	if len(b.Items) != len(ids) {
		return true, fmt.Errorf("opensearch %s: _bulk answered %d items for %d documents", s.o.Name, len(b.Items), len(ids))
	}
	var again int
	var first string
	for i, m := range b.Items {
		for _, it := range m { // one key: the action, "create"
			switch {
			case it.Status == http.StatusOK || it.Status == http.StatusCreated || it.Status == http.StatusConflict:
			case it.Status == http.StatusTooManyRequests || it.Status >= 500:
				if again++; again == 1 {
					first = fmt.Sprintf("%s: %d %s", ids[i], it.Status, it.Error)
				}
			default:
				if rejected[ids[i]] == "" {
					rejected[ids[i]] = truncate(fmt.Sprintf("%d %s", it.Status, it.Error), maxReason)
				}
			}
		}
	}
	if again > 0 {
		return true, fmt.Errorf("opensearch %s: %d of %d documents need another attempt (first %s)", s.o.Name, again, len(ids), first)
	}
	return false, nil
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
