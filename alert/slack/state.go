package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/internal/atomicfile"
)

// stateVersion is the version of the state file's format.
const stateVersion = 1

// How long the state keeps an incident's message after its last change:
// a resolved incident gets no more emissions, an open one is kept longer
// in case it is merely quiet.
const (
	keepResolved = 7 * 24 * time.Hour
	keepOpen     = 30 * 24 * time.Hour
	maxNotes     = 10
)

// entry is where an incident's message is and what it last said.
type entry struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	// Digest is set when TS is a digest message: it is never edited for
	// the incident; updates go in its thread.
	Digest bool `json:"digest,omitempty"`
	// Status is the last status posted for the incident, as a message
	// or a thread reply.
	Status detect.Status `json:"status"`
	// Chart is set once the resolved incident's chart is dealt with:
	// uploaded into the thread, or given up (no chart, a refusal), so a
	// retried Notify never uploads it twice.
	Chart   bool      `json:"chart,omitempty"`
	Notes   []string  `json:"notes,omitempty"`
	Updated time.Time `json:"updated"`
}

// stateData is the state file's content.
type stateData struct {
	Version int `json:"version"`
	// ChannelID is the channel's id as Slack reported it on a post; the
	// history lookup needs an id where Options.Channel is a name.
	ChannelID string           `json:"channel_id,omitempty"`
	Incidents map[string]entry `json:"incidents"`
}

// store is the incident→message map, kept in memory and, when it has a
// path, in a file written atomically after every change.
type store struct {
	mu    sync.Mutex
	path  string // "" keeps the state in memory only
	data  stateData
	write func(path string, b []byte) error // atomicfile.WriteBytes; tests replace it
	now   func() time.Time
}

// openStore loads the state file for the sink named name from dir, or
// starts empty when there is none. An unreadable file is an error: a
// sink that forgot its messages would post them again.
func openStore(dir, name string) (*store, error) {
	st := &store{data: stateData{Version: stateVersion, Incidents: map[string]entry{}},
		write: atomicfile.WriteBytes, now: time.Now}
	if dir == "" {
		return st, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("slack state: %w", err)
	}
	st.path = filepath.Join(dir, "slack-"+fileSafe(name)+".state.json")
	b, err := os.ReadFile(st.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("slack state: %w", err)
	}
	if err := json.Unmarshal(b, &st.data); err != nil {
		return nil, fmt.Errorf("slack state %s: %w", st.path, err)
	}
	if st.data.Version != stateVersion {
		return nil, fmt.Errorf("slack state %s: unknown version %d", st.path, st.data.Version)
	}
	if st.data.Incidents == nil {
		st.data.Incidents = map[string]entry{}
	}
	return st, nil
}

// fileSafe keeps letters, digits, dot, dash and underscore of name.
func fileSafe(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, name)
}

// get returns the entry of incident id.
func (st *store) get(id string) (entry, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.data.Incidents[id]
	return e, ok
}

// channelID returns the channel id learned from Slack, if any.
func (st *store) channelID() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.data.ChannelID
}

// put records entries (and the channel id, when not empty) and saves
// the state. The change stays in memory when the save fails, so a retry
// in this process edits rather than posts again; the error is returned
// so the caller reports the delivery as not done.
func (st *store) put(channelID string, es map[string]entry) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	for id, e := range es {
		e.Updated = now
		st.data.Incidents[id] = e
	}
	if channelID != "" {
		st.data.ChannelID = channelID
	}
	st.prune(now)
	return st.saveLocked()
}

// del forgets incident id (its message was deleted in Slack).
func (st *store) del(id string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.data.Incidents, id)
	return st.saveLocked()
}

// addNote appends note to incident id's notes, keeping the last
// maxNotes, and returns them; nil when the incident is unknown.
func (st *store) addNote(id, note string) ([]string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.data.Incidents[id]
	if !ok {
		return nil, nil
	}
	e.Notes = append(e.Notes, note)
	if len(e.Notes) > maxNotes {
		e.Notes = append([]string(nil), e.Notes[len(e.Notes)-maxNotes:]...)
	}
	e.Updated = st.now()
	st.data.Incidents[id] = e
	return append([]string(nil), e.Notes...), st.saveLocked()
}

// prune drops entries no emission will need any more.
func (st *store) prune(now time.Time) {
	for id, e := range st.data.Incidents {
		keep := keepOpen
		if e.Status == detect.StatusResolved {
			keep = keepResolved
		}
		if now.Sub(e.Updated) > keep {
			delete(st.data.Incidents, id)
		}
	}
}

// saveLocked writes the state file; st.mu is held.
func (st *store) saveLocked() error {
	if st.path == "" {
		return nil
	}
	b, err := json.Marshal(&st.data)
	if err != nil {
		return fmt.Errorf("slack state: %w", err)
	}
	if err := st.write(st.path, b); err != nil {
		return fmt.Errorf("slack state: %w", err)
	}
	return nil
}
